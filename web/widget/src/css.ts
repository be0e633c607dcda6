// The chat panel's stylesheet, scoped to the widget's shadow root. Logical
// properties (inline-start/end) keep it right-to-left safe; the panel is full
// screen below 480 px. Only system fonts: no request leaves for a font.
export const CSS = `
.p{--c:#2d5bd7;position:fixed;bottom:88px;z-index:2147483001;display:flex;flex-direction:column;width:370px;height:min(600px,calc(100vh - 110px));box-sizing:border-box;background:#fff;color:#1d1d1f;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);overflow:hidden;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;text-align:start}
.p[hidden],.p [hidden]{display:none!important}
.p *{box-sizing:border-box;font:inherit}
.p button{cursor:pointer}
.p :focus-visible{outline:2px solid var(--c);outline-offset:2px}
.h{display:flex;align-items:center;gap:10px;padding:12px 14px;background:var(--c);color:#fff}
.h .t{flex:1;min-width:0}
.h .t b{display:block;font-weight:600;font-size:15px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.h .t span{font-size:12px;opacity:.9}
.av{flex:none;width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.25);display:grid;place-items:center;font-weight:700}
.av svg{width:20px;height:20px;fill:currentColor}
.av img{width:100%;height:100%;border-radius:50%;object-fit:cover}
.eb{flex:none;background:rgba(255,255,255,.18);border:0;color:inherit;border-radius:6px;padding:5px 9px;font-size:12px;font-weight:600}
.eb:hover{background:rgba(255,255,255,.3)}
.ib{flex:none;background:none;border:0;color:inherit;width:32px;height:32px;border-radius:6px;display:grid;place-items:center;padding:0}
.ib:hover{background:rgba(0,0,0,.08)}
.ib svg{width:20px;height:20px;fill:currentColor}
.bn{white-space:pre-line;padding:8px 14px;font-size:13px;background:#fff7d6;color:#5c4400;border-bottom:1px solid #f0e2a6}
.bn.err{background:#fde8e7;color:#8a1c13;border-color:#f5c2be}
.ms{flex:1;overflow-y:auto;margin:0;padding:12px 14px;list-style:none;display:flex;flex-direction:column;gap:6px;background:#f6f7f9}
.m{max-width:80%;display:flex;flex-direction:column;align-items:flex-start}
.m.me{align-self:flex-end;align-items:flex-end}
.m .w{font-size:11px;color:#666;margin:4px 4px 2px}
.m .bu{padding:8px 11px;border-radius:14px;background:#fff;border:1px solid #e3e5e8;white-space:pre-wrap;overflow-wrap:anywhere}
.m.me .bu{background:var(--c);color:#fff;border-color:transparent}
.m .bu img{display:block;max-width:100%;max-height:220px;border-radius:8px}
.m .bu a,.m .bu button.f{color:inherit;text-decoration:underline;background:none;border:0;padding:0}
.m .mt{font-size:11px;color:#777;margin:2px 4px}
.m.pe .bu{opacity:.7}
.s{align-self:center;font-size:12px;color:#666;text-align:center;padding:2px 8px}
.s.ar{align-self:stretch;font-size:13px;color:#1d1d1f;background:#fff;border:1px solid #e3e5e8;border-radius:10px;padding:8px 11px;text-align:start;white-space:pre-wrap}
.ty{padding:0 14px 4px;font-size:12px;color:#555;min-height:18px;background:#f6f7f9}
.cmp{display:flex;align-items:flex-end;gap:6px;padding:8px 10px;border-top:1px solid #e3e5e8;background:#fff}
.cmp textarea{flex:1;resize:none;border:1px solid #cfd3d8;border-radius:10px;padding:8px 10px;max-height:120px;min-height:38px;color:#1d1d1f;background:#fff}
.cmp .ib{color:#555}
.sd{flex:none;border:0;border-radius:10px;background:var(--c);color:#fff;padding:9px 14px;font-weight:600}
.em{display:flex;flex-wrap:wrap;gap:2px;padding:6px 10px;border-top:1px solid #e3e5e8}
.em button{border:0;background:none;font-size:20px;width:34px;height:34px;border-radius:6px}
.em button:hover{background:#eef}
.fm{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px}
.fm p{margin:0}
.fm b,.rt b{font-weight:600;font-size:15px}
.fm label{display:flex;flex-direction:column;gap:4px;font-weight:600;font-size:13px}
.fm label small{font-weight:400;color:#666}
.fm input,.fm textarea,.fm select{border:1px solid #cfd3d8;border-radius:8px;padding:8px 10px;font-weight:400;color:#1d1d1f;background:#fff}
.fm [aria-invalid=true]{border-color:#c5221f}
.lk{align-self:center;background:none;border:0;color:var(--c);text-decoration:underline;padding:4px}
.fe{color:#c5221f;font-size:12px;font-weight:400}
.fe:empty{display:none}
.pr{height:4px;background:#e3e5e8;border-radius:2px;overflow:hidden;margin:0 10px 6px}
.pr i{display:block;height:100%;background:var(--c);width:0}
.up{font-size:12px;color:#555;padding:6px 10px 2px}
.rt{align-self:stretch;background:#fff;border:1px solid #e3e5e8;border-radius:12px;padding:12px;display:flex;flex-direction:column;gap:8px;margin-top:6px}
.rt b{font-weight:600}
.rte{color:#b42318;font-size:13px}
.st{display:flex;gap:4px}
.st button{border:0;background:none;font-size:26px;line-height:1;color:#c8ccd2;padding:2px}
.st button[aria-checked=true]{color:#f4b400}
.rt textarea{border:1px solid #cfd3d8;border-radius:8px;padding:6px 8px;resize:vertical}
.tr form{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.tr label{flex-basis:100%;font-weight:600}
.tr input{flex:1;min-width:0;border:1px solid #cfd3d8;border-radius:8px;padding:8px 10px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.p{inset:0;width:100%;height:100%;border-radius:0}}
`;
