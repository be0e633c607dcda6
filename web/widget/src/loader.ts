// Switchboard widget loader: the one script a website embeds.
//
//   <script async src="https://HOST/widget.js" data-site="SITE_KEY"></script>
//
// It is tiny (budget: 3 KB gzipped), runs after the page has parsed it
// (async: it never blocks rendering or the load event), draws the launcher
// button in a shadow root, replays the Switchboard(...) calls the page made
// before it arrived, and loads the chat UI (ui.js) only when the panel is
// first opened, or in the background after the page's load event when this
// browser already has a conversation (so that a message can arrive and show
// the unread badge).
//
// Isolation: shadow DOM, not an iframe. See docs/widget.md. In short: the
// page's origin stays the origin the server checks against the site's allowed
// origins (an iframe from the Switchboard host would make every request come
// from Switchboard's own origin), no second document to download and boot,
// and `:host { all: initial }` plus our own shadow-scoped stylesheet keeps the
// host page's CSS out (and ours out of the page).
import type { Identity, Mount, MountContext, UIHandle, WidgetConfig } from "./types";

type Fn = ((...a: unknown[]) => void) & { q?: ArrayLike<unknown>[]; loaded?: 1 };
type Win = Window & { Switchboard?: Fn };

// Replaced by the server with a digest of ui.js, so that the UI file can be
// cached forever under a versioned path.
const UI_VERSION = "__SB_UI_VERSION__";

const CSS =
  ":host{all:initial}" +
  ".l{position:fixed;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;height:56px;min-width:56px;padding:0 16px;box-sizing:border-box;border:0;border-radius:28px;background:var(--c);color:#fff;font:600 15px/1 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
  ".l:focus-visible{outline:3px solid #222;outline-offset:3px}" +
  ".l svg{width:26px;height:26px;fill:currentColor;flex:none}" +
  ".b{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;box-sizing:border-box;border-radius:10px;background:#d93025;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center}" +
  ".b[hidden]{display:none}";

const CHAT_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z"/></svg>';
const CLOSE_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7l1.4-1.4 6.3 6.3 6.3-6.3z"/></svg>';

((w: Win, d: Document) => {
  const prev = w.Switchboard;
  if (prev && prev.loaded) return; // the snippet is on the page twice
  const script = (d.currentScript ||
    d.querySelector('script[data-site][src*="widget.js"]')) as HTMLScriptElement | null;
  if (!script) return;
  const site = script.getAttribute("data-site") || "";
  const base = script.src.replace(/\/widget\.js([?#].*)?$/, "");
  const ds = script.dataset;
  // The page's settings (data- attributes, Switchboard('config')) and the
  // site's from the server (its admin's widget settings). The server's win
  // for every field the admin set; the page's fill the rest (docs/widget.md).
  const page: WidgetConfig = { color: ds.color, position: ds.position as WidgetConfig["position"], launcherText: ds.launcherText };
  let srv: WidgetConfig = {};
  const cfg: WidgetConfig = {};
  const set = (o: Record<string, any>) => {
    const r: Record<string, any> = {};
    for (const k in o) if (o[k] != null && o[k] !== "") r[k] = o[k];
    return r;
  };
  const merge = () => {
    for (const k in cfg) delete (cfg as any)[k];
    Object.assign(cfg, { color: "#2d5bd7", position: "right" }, set(page), set(srv), {
      strings: { ...page.strings, ...srv.strings },
      prechat: { ...page.prechat, ...set(srv.prechat || {}) },
    });
  };
  const identity: Identity = {};
  const listeners: Record<string, Function[]> = {};
  const key = "sb:" + site + ":";
  let ui: UIHandle | undefined;
  let loading = 0;
  let open = false;
  let unread = 0;

  const store = (k: string, v?: string | null): string | null => {
    try {
      if (v === undefined) return localStorage.getItem(key + k);
      if (v === null) localStorage.removeItem(key + k);
      else localStorage.setItem(key + k, v);
    } catch (_) {
      /* storage blocked: the widget still works for this page */
    }
    return null;
  };

  const host = d.createElement("div");
  host.setAttribute("data-switchboard", site);
  const root = host.attachShadow({ mode: "open" });
  const launcher = d.createElement("button");
  launcher.type = "button";
  launcher.className = "l";
  launcher.setAttribute("aria-haspopup", "dialog");
  const badge = d.createElement("span");
  badge.className = "b";
  badge.setAttribute("aria-hidden", "true");
  const style = d.createElement("style");
  style.textContent = CSS;
  root.append(style, launcher);

  const emit = (ev: string, data?: unknown) => {
    for (const f of listeners[ev] || []) {
      try {
        f(data);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  };

  const strings = (k: string, dflt: string) => (cfg.strings && cfg.strings[k]) || dflt;

  const render = () => {
    host.style.cssText = "";
    launcher.style.setProperty("--c", cfg.color || "#2d5bd7");
    launcher.style.left = cfg.position === "left" ? "20px" : "";
    launcher.style.right = cfg.position === "left" ? "" : "20px";
    launcher.innerHTML = open ? CLOSE_ICON : CHAT_ICON;
    const text = !open && cfg.launcherText;
    if (text) launcher.append(text);
    badge.textContent = unread > 9 ? "9+" : unread ? String(unread) : "";
    badge.hidden = !unread || open;
    launcher.append(badge);
    launcher.setAttribute("aria-expanded", String(open));
    let label = open ? strings("close", "Close chat") : strings("open", "Open chat");
    if (unread && !open) label += ", " + strings("unread", "{n} unread").replace("{n}", String(unread));
    launcher.setAttribute("aria-label", label);
  };

  const loadUI = () => {
    if (ui || loading) return;
    loading = 1;
    const s = d.createElement("script");
    s.async = true;
    s.src = base + "/widget/" + UI_VERSION + "/ui.js";
    s.onerror = () => {
      loading = 0;
      setOpen(false);
    };
    (d.head || d.documentElement).appendChild(s);
  };

  function setOpen(o: boolean) {
    if (o === open) return;
    open = o;
    store("open", o ? "1" : null);
    render();
    if (o) {
      if (ui) ui.open();
      else loadUI();
    } else if (ui) ui.close();
    emit(o ? "open" : "close");
  }

  // Identity verification: the page's signed identity goes to the server
  // as soon as there is a session: here when this browser already has one
  // (before the UI is even loaded), else when the UI has made one. Once per
  // token and identity; a refusal is told to the site's developer on the
  // console (the hash never is), and the visitor stays anonymous.
  let vKey = "";
  let vDone: Promise<number> = Promise.resolve(0);
  const verify = (tk: string): Promise<number> => {
    const k = tk + JSON.stringify(identity);
    if (k !== vKey) {
      vKey = k;
      const attributes: Record<string, string> = {};
      for (const n in identity.attributes || {}) attributes[n] = String(identity.attributes![n]);
      const { user_id, email, name, hash } = identity;
      vDone = fetch(base + "/api/v1/visitor/identify", {
        method: "POST",
        headers: { Authorization: "Bearer " + tk, "Content-Type": "application/json" },
        body: JSON.stringify({ user_id, email, name, attributes, hash }),
      })
        .then(async (r) => {
          const j = await r.json();
          if (r.ok) return j.contact.id as number;
          if (r.status == 401 || r.status > 499) throw 0; // a new session, or a later call, tries again
          console.warn("Switchboard('identify') refused: " + j.code + " (" + j.title + "). The visitor stays anonymous.");
          return 0;
        })
        .catch(() => (vKey == k && (vKey = ""), 0));
    }
    return vDone;
  };

  const ctx: MountContext = {
    site,
    base,
    root,
    cfg,
    identity,
    emit,
    launcher,
    setOpen,
    isOpen: () => open,
    verify,
    setUnread(n) {
      if (n !== unread) {
        unread = n;
        render();
        emit("unread", n);
      }
    },
  };

  const api: Fn = function (this: unknown, ...a: unknown[]) {
    const [cmd, x, y] = a as [string, any, any];
    switch (cmd) {
      case "open":
      case "close":
        setOpen(cmd === "open");
        break;
      case "toggle":
        setOpen(!open);
        break;
      case "on":
        (listeners[x] = listeners[x] || []).push(y);
        break;
      case "off":
        listeners[x] = (listeners[x] || []).filter((f) => f !== y);
        break;
      case "identify":
        Object.assign(identity, x);
        if (ui) ui.identify(identity);
        else if (identity.hash && store("token")) verify(store("token")!);
        break;
      case "attributes":
        identity.attributes = Object.assign(identity.attributes || {}, x);
        if (ui) ui.identify(identity);
        break;
      case "config":
        Object.assign(page, x);
        apply();
        break;
      case "reset":
        // On logout: forget this browser's visitor (token, history, cursors).
        try {
          for (let i = localStorage.length - 1; i >= 0; i--) {
            const k = localStorage.key(i);
            if (k && k.indexOf(key) === 0) localStorage.removeItem(k);
          }
        } catch (_) {
          /* nothing stored */
        }
        for (const k in identity) delete (identity as Record<string, unknown>)[k];
        ctx.setUnread(0);
        if (ui) ui.reset();
        break;
      case "_mount":
        if (!ui) {
          ui = (x as Mount)(ctx);
          if (open) ui.open();
        }
        break;
    }
  };
  api.loaded = 1;

  function apply() {
    merge();
    render();
    if (ui) ui.config(cfg);
  }
  // The site's widget settings: public, cached by the browser for a minute
  // and here for the next page, so the launcher is drawn at once in the
  // site's colours. A first visit (no copy yet) puts the launcher on the
  // page when they arrive (or fail to, or after 3 s): never in the wrong
  // colour first. Unchanged settings change nothing on screen.
  const wc = store("wc");
  const fromServer = (j: any) => {
    srv = { color: j.color, position: j.position, launcherText: j.launcher_text, greeting: j.greeting, dir: j.dir, locale: j.language, strings: j.strings, prechat: j.prechat };
  };
  let settled = 0;
  const show = () => {
    settled = 1;
    if (d.body && !host.isConnected) d.body.appendChild(host);
  };
  try {
    fromServer(JSON.parse(wc || "x"));
    settled = 1;
  } catch (_) {
    setTimeout(show, 3000);
  }
  fetch(base + "/api/v1/visitor/widget/" + encodeURIComponent(site))
    .then((r) => (r.ok ? r.text() : ""))
    .then((t) => {
      if (t && t !== wc) store("wc", t), fromServer(JSON.parse(t)), apply();
    })
    .catch(() => 0)
    .then(show);

  const queued = (prev && prev.q) || [];
  w.Switchboard = api;
  launcher.addEventListener("click", () => setOpen(!open));
  merge();
  render();
  const attach = () => {
    if (settled) show();
    for (const args of Array.prototype.slice.call(queued)) api.apply(null, Array.prototype.slice.call(args));
    // A returning visitor (token stored) gets the UI in the background once
    // the page has loaded, so that agent messages arrive and the unread
    // badge shows; the panel reopens if it was open on the previous page.
    if (store("open")) setOpen(true);
    else if (store("token")) {
      const later = () => setTimeout(loadUI, 1);
      if (d.readyState === "complete") later();
      else w.addEventListener("load", later);
    }
  };
  if (d.body) attach();
  else d.addEventListener("DOMContentLoaded", attach);
})(window as Win, document);
