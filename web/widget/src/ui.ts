// Switchboard chat UI (ui.js), loaded lazily by the loader (widget.js) and
// mounted into the loader's shadow root. Plain TypeScript and DOM: no
// framework, so that loader + UI stay far below 30 KB gzipped.
//
// Delivery rules it relies on (docs/protocol.md):
// - the timeline is indexed by seq: a seq already held is ignored, so
//   replays, reconnects, acks racing events and other tabs never duplicate;
// - the cursor (highest seq held) and the store epoch are kept per site in
//   localStorage with the token; a reconnect subscribes with them and the
//   server replays what was missed (or says recovered:false: reload over REST);
// - every message the visitor writes gets a client_id once, goes to an outbox
//   kept in localStorage, and is sent again with the same client_id until it
//   is acknowledged: the server stores it exactly once.
import { CSS } from "./css";
import { fill, queueLines, whenWords, type QueueStatus } from "./fmt";
import { STRINGS, type StringKey } from "./strings";
import type { Identity, MountContext, UIHandle, WidgetConfig } from "./types";

interface Att {
  id: number;
  name: string;
  content_type: string;
  size: number;
}
interface Msg {
  id: number;
  conversation_id: number;
  seq: number;
  chat_id?: number;
  author_kind: string;
  author_name?: string;
  client_id?: string;
  kind: string;
  visibility?: string;
  body: string;
  event?: string;
  attachment_id?: number;
  attachment?: Att;
  created_at: string;
}
interface Participant {
  user_id: number;
  name: string;
  left_at?: string;
  avatar_url?: string;
}
interface ChatView {
  chat: { id: number; state: string; end_reason?: string };
  participants: Participant[] | null;
}
interface Pending {
  cid: string;
  kind: "send" | "req";
  conv: number;
  body: string;
  att?: Att;
  at: string;
  dept?: number; // the pre-chat department choice (request only)
}
/** What POST /sessions (a new visitor) or GET /site (a stored session,
 * resumed) says about the site. The copy kept in localStorage is only shown
 * until GET /site answers, or if it does not. */
interface Site {
  name?: string;
  open?: boolean;
  next_open?: string;
  after_hours_message?: string;
  queue_display?: string;
  departments?: { id: number; name: string }[];
  /** "on_request": offer "email me the transcript"; "always": the server sends it; "never". */
  transcript?: string;
  /** Only a verified identity may give a name or email (403 identity_required). */
  identity_required?: boolean;
  /** live: humans; hybrid: the assistant first, "Talk to a human" hands off; assistant: the assistant only. */
  widget_mode?: string;
}
/** Why no live chat can start now: outside business hours. */
interface Off {
  message?: string;
  next_open?: string;
}
interface Problem {
  code: string;
  message?: string;
  title?: string;
}

const LIVE = ["bot", "waiting", "pending", "active"];
const EMOJI = ["😀", "😂", "😊", "😍", "🤔", "😢", "😮", "👍", "👎", "🙏", "👏", "🎉", "❤️", "🔥", "✅", "👋"];
const ICONS = {
  close: '<path d="M5 11h14v2H5z"/>',
  chat: '<path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z"/>',
  attach:
    '<path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"/>',
  emoji:
    '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm-3.5-9a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm7 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zM12 17.5a5.5 5.5 0 0 0 5.1-3.5H6.9a5.5 5.5 0 0 0 5.1 3.5z"/>',
};

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s).length;
const clip = (s: string, n: number) => {
  s = s.slice(0, n);
  while (bytes(s) > n) s = s.slice(0, -1);
  return s;
};
const EMAIL = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;
const uid = () =>
  "w-" +
  Date.now().toString(36) +
  "-" +
  Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean> = {},
  ...kids: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const k in attrs) {
    const v = attrs[k];
    if (v === false) continue;
    if (k === "class") el.className = v as string;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...kids);
  return el;
}
const icon = (path: string) => {
  const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  s.setAttribute("viewBox", "0 0 24 24");
  s.setAttribute("aria-hidden", "true");
  s.innerHTML = path; // constant markup only
  return s;
};

function mount(ctx: MountContext): UIHandle {
  const { site, base, root } = ctx;
  let cfg: WidgetConfig = ctx.cfg;
  let identity: Identity = ctx.identity;
  const api = base + "/api/v1/visitor";
  const prefix = "sb:" + site + ":";
  const str = (k: StringKey) => (cfg.strings && cfg.strings[k]) || STRINGS[k];
  const t = (k: StringKey, n?: number | string, name?: string) => fill(str(k), n, name);

  // ---- storage (per site key) ----
  const get = <T>(k: string, d: T): T => {
    try {
      const v = localStorage.getItem(prefix + k);
      return v == null ? d : (JSON.parse(v) as T);
    } catch (_) {
      return d;
    }
  };
  const put = (k: string, v: unknown) => {
    try {
      if (v == null) localStorage.removeItem(prefix + k);
      else localStorage.setItem(prefix + k, JSON.stringify(v));
    } catch (_) {
      /* storage full or blocked: memory only */
    }
  };
  // The loader stores the token as a plain string.
  const getToken = () => {
    try {
      return localStorage.getItem(prefix + "token");
    } catch (_) {
      return null;
    }
  };
  const setToken = (v: string | null) => {
    try {
      if (v) localStorage.setItem(prefix + "token", v);
      else localStorage.removeItem(prefix + "token");
    } catch (_) {
      /* memory only */
    }
  };

  // ---- state ----
  let token = getToken();
  let epoch = get("epoch", "");
  let conv = get("conv", 0);
  const msgs = new Map<number, Msg>();
  for (const m of get<Msg[]>("msgs:" + conv, [])) msgs.set(m.seq, m);
  let out = get<Pending[]>("out", []);
  let myRead = get("read:" + conv, 0);
  let agentRead = 0;
  let chat: ChatView | null = null;
  let chatState = get("state", "");
  let fatal = "";
  let notice = "";
  let humansUnavailable = false;
  let offlineSent = false;
  let info = get<Site>("site", {});
  let off = get<Off | null>("off", null); // outside business hours, as last heard
  let kept = false; // a question asked after hours came back kept as a ticket
  let offView = false; // the offline form, asked for from the timeline
  let dept = get("dept", 0);
  const queues = new Map<number, QueueStatus>(); // conversation id -> place in the queue
  // A chat view or queue place in a reply (the request_chat ack, the REST
  // fetch after subscribing) can be older than an event that arrived while
  // it was on its way: routing moves a chat on within milliseconds. Each
  // event is numbered as it arrives; a reply is used only if no event of
  // its kind for that conversation came after the request was made.
  let evN = 0;
  const evAt = new Map<string, number>(); // "c"|"q" + conversation id -> number of its last event
  const fresh = (k: string, since: number) => (evAt.get(k) || 0) <= since;
  let typingName = "";
  let typingTimer = 0;
  // Who the visitor is: the page's identify (identity) and what they typed
  // in a form (given, remembered for this browser). verified: the server
  // accepted the page's signed identity for this token. A site that requires
  // verification refuses an unverified name or email: none is asked or sent.
  let given = get<{ name?: string; email?: string }>("who", {});
  let verified = !!get("v", 0);
  let contactId = 0; // the contact the socket authenticated as
  let vBusy = 0; // verifications under way: chat requests wait
  const locked = () => !!info.identity_required && !verified;
  const me = (): { name?: string; email?: string } =>
    locked() ? {} : { name: identity.name || given.name, email: identity.email || given.email };
  let shown = false; // panel visible
  const imgs = new Map<number, string>(); // attachment id -> blob URL

  // ---- DOM ----
  const style = h("style");
  style.textContent = CSS;
  const title = h("b");
  const sub = h("span");
  const avatar = h("div", { class: "av", "aria-hidden": "true" });
  let avSrc = ""; // the photo the header shows, "" for initials
  const avBroken = new Set<string>(); // photos that failed to load
  const endBtn = h("button", { type: "button", class: "eb" });
  const minBtn = h("button", { type: "button", class: "ib", "aria-label": "" }, icon(ICONS.close));
  const header = h("div", { class: "h" }, avatar, h("div", { class: "t" }, title, sub), endBtn, minBtn);
  const banner = h("div", { class: "bn", role: "status", "aria-live": "polite" });
  const list = h("ol", { class: "ms", "aria-live": "polite", tabindex: "0" });
  const typing = h("div", { class: "ty", "aria-live": "polite" });
  const text = h("textarea", { rows: "1", maxlength: "8192" });
  const file = h("input", { type: "file", hidden: true, tabindex: "-1" });
  const attachBtn = h("button", { type: "button", class: "ib" }, icon(ICONS.attach));
  const emojiBtn = h("button", { type: "button", class: "ib", "aria-expanded": "false" }, icon(ICONS.emoji));
  const sendBtn = h("button", { type: "button", class: "sd" });
  const emojis = h("div", { class: "em", hidden: true, role: "group" });
  const upText = h("div", { class: "up", hidden: true, role: "status" });
  const upBar = h("i");
  const progress = h("div", { class: "pr", hidden: true }, upBar);
  const composer = h("div", { class: "cmp" }, attachBtn, emojiBtn, text, sendBtn, file);
  const form = h("form", { class: "fm", novalidate: true });
  const panel = h("div", { class: "p", role: "dialog", hidden: true });
  panel.append(header, banner, list, form, typing, upText, progress, emojis, composer);
  root.append(style, panel);

  for (const e of EMOJI) {
    const b = h("button", { type: "button" }, e);
    b.onclick = () => {
      const s = text.selectionStart ?? text.value.length;
      text.value = text.value.slice(0, s) + e + text.value.slice(text.selectionEnd ?? s);
      text.focus();
    };
    emojis.append(b);
  }

  const live = () => LIVE.includes(chatState);
  // The site's assistant answers first (hybrid) or alone (assistant).
  const bot = () => info.widget_mode === "hybrid" || info.widget_mode === "assistant";
  // Closed: outside business hours, as the server last said (GET /site on
  // every connect, a request), until the next opening time passes; then the
  // site is asked again.
  const closed = () => !!off && (!off.next_open || Date.parse(off.next_open) > Date.now());
  let offTimer = 0;
  let offN = 0; // number of changes to `off`
  function setOff(o: Off | null) {
    offN++;
    off = o && { message: o.message, next_open: o.next_open };
    put("off", off);
    clearTimeout(offTimer);
    const ms = off ? Date.parse(off.next_open || "") - Date.now() : 0;
    if (ms > 0 && ms < 2e9) offTimer = window.setTimeout(() => (render(), loadSite()), ms + 1000);
    render();
  }
  // applySite takes the site's hours and departments; `hours` false keeps
  // `off` (a reply that newer news about the hours overtook).
  function applySite(s: Site, hours = true) {
    info = {
      name: s.name,
      queue_display: s.queue_display,
      departments: s.departments || [],
      transcript: s.transcript,
      identity_required: s.identity_required,
      widget_mode: s.widget_mode,
    };
    put("site", info);
    if (hours) setOff(s.open === false ? { message: s.after_hours_message, next_open: s.next_open } : null);
    else render();
  }
  // The site's message when the chat ended with nobody answering, else "".
  function unanswered(): string {
    if (chatState !== "ended") return "";
    let ev: Msg | undefined;
    for (const m of msgs.values())
      if (m.kind === "event" && /^(chat_requested|joined|ended|unanswered)$/.test(m.event || "") && (!ev || m.seq > ev.seq)) ev = m;
    if (ev && ev.event === "unanswered") return ev.body || t("unanswered");
    return chat && chat.chat.end_reason === "unanswered" ? t("unanswered") : "";
  }
  // Where the current chat stands in the queue (events, replies, fetches).
  const place = () => {
    const q = queues.get(conv);
    return q && (!chat || q.chat_id === chat.chat.id) ? q : null;
  };
  // "We open again: <time datetime=…>Monday 9:00 AM</time>", or nothing.
  function nextOpen(iso?: string): Node[] {
    const w = whenWords(iso, new Date(), cfg.locale);
    if (!w) return [];
    const [a, b = ""] = str("nextOpen").split("{n}");
    return [h("span", { class: "no" }, a, h("time", { datetime: iso as string }, w), b)];
  }
  const agent = () => (chat && (chat.participants || []).find((p) => !p.left_at)) || null;
  const maxSeq = () => {
    let m = 0;
    for (const k of msgs.keys()) if (k > m) m = k;
    return m;
  };
  const fmtTime = (iso: string) => {
    try {
      return new Intl.DateTimeFormat(cfg.locale, { hour: "numeric", minute: "2-digit" }).format(new Date(iso));
    } catch (_) {
      return "";
    }
  };

  // ---- rendering ----
  const nodes = new Map<string, HTMLElement>();
  let renderQueued = false;
  const render = () => {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      draw();
    });
  };

  function applyConfig() {
    panel.style.setProperty("--c", cfg.color || "#2d5bd7");
    const left = cfg.position === "left";
    panel.style.left = left ? "20px" : "";
    panel.style.right = left ? "" : "20px";
    panel.dir = cfg.dir || document.documentElement.dir || document.body.dir || "ltr";
    panel.setAttribute("aria-label", t("title"));
    list.setAttribute("aria-label", t("messages"));
    minBtn.setAttribute("aria-label", t("close"));
    endBtn.textContent = t("endChat");
    text.setAttribute("aria-label", t("placeholder"));
    text.placeholder = t("placeholder");
    attachBtn.setAttribute("aria-label", t("attach"));
    emojiBtn.setAttribute("aria-label", t("emoji"));
    emojis.setAttribute("aria-label", t("emoji"));
    sendBtn.textContent = t("send");
    bannerKey = ""; // the form redraws only when what it shows changed (cfg is in its key)
    render();
  }

  function draw() {
    const a = agent();
    title.textContent = a ? a.name : t("title");
    // The agent's photo when they have one (the server gives a root-relative
    // URL: the widget is on another origin), else their initials; a photo
    // that fails to load falls back to initials for good.
    const u = a && a.avatar_url;
    const src = u && u[0] === "/" && !avBroken.has(u) ? base + u : "";
    if (src && a) {
      if (src !== avSrc) {
        const img = h("img", { src, alt: a.name });
        img.onerror = () => {
          avBroken.add(u!);
          draw();
        };
        avatar.replaceChildren(img);
      } else (avatar.firstChild as HTMLImageElement).alt = a.name;
    } else {
      avatar.textContent = a
        ? a.name
            .split(/\s+/)
            .map((w) => w.charAt(0))
            .join("")
            .slice(0, 2)
            .toUpperCase()
        : "";
      if (!a) avatar.append(icon(ICONS.chat));
    }
    avSrc = src;
    sub.textContent = fatal || (closed() && !live()) ? "" : a && ws && authed ? t("online") : t("subtitle");
    endBtn.hidden = !live() || !conv;

    // banner: fatal error > notice > connection > waiting/queue > kept
    // after hours > closed > ended
    let b: string[] = [];
    let next = "";
    let err = false;
    if (fatal) (b = [fatal]), (err = true);
    else if (notice) (b = [notice]), (err = true);
    else if (connLost) b = [t("reconnecting")];
    else if (chatState === "waiting" || chatState === "pending")
      b = queueLines(chatState, place(), info.queue_display, {
        waiting: t("waiting"),
        connecting: t("connecting"),
        queue: str("queue"),
        wait: str("wait"),
        waitSoon: t("waitSoon"),
      }, cfg.locale);
    else if (kept && conv) b = [t(me().email ? "kept" : "keptNoEmail")];
    else if (conv && !live() && !out.length) {
      if (closed() && !unanswered()) (b = [(off && off.message) || t("closed")]), (next = (off && off.next_open) || "");
      else if (chatState === "ended") b = [t("ended")];
    }
    // Rewritten only when it changes: a live region re-announces what it is given.
    const bk = JSON.stringify([b, next, err]);
    if (bk !== bannerKey) {
      bannerKey = bk;
      banner.textContent = b.join("\n");
      if (next) banner.append("\n", ...nextOpen(next));
      banner.hidden = !b.length;
      banner.className = err ? "bn err" : "bn";
      banner.setAttribute("role", err ? "alert" : "status");
    }

    const showForm = !fatal && (offView || (!conv && !out.length));
    form.hidden = !showForm;
    list.hidden = showForm;
    composer.hidden = showForm || !!fatal;
    typing.hidden = showForm;
    if (showForm) drawForm();
    drawList();
    typing.textContent = typingName ? t("typing", typingName) : "";
  }

  // The form in place of the timeline: the pre-chat form, or the offline
  // form ("leave us a message": no humans, outside business hours, or asked
  // for after a chat nobody answered), or its confirmation.
  let bannerKey = "";
  let formKey = "";
  let formMode = "";
  const fieldEls = () =>
    Array.from(form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>("input,textarea,select"));
  function drawForm() {
    const isOff = humansUnavailable || (closed() && !bot()) || offView; // the assistant answers at any hour
    const mode = isOff ? (offlineSent && !offView ? "done" : "offline") : "prechat";
    const shut = isOff && closed() && !offView;
    const intro = mode === "prechat" ? t(bot() ? "botIntro" : "prechatIntro") : shut ? (off && off.message) || t("closed") : t("offlineIntro");
    const next = shut ? (off && off.next_open) || "" : "";
    const pc = cfg.prechat || {};
    const depts = mode === "prechat" && pc.department !== "off" ? info.departments || [] : [];
    const who = me();
    const signIn = mode === "offline" && locked(); // the offline form needs an email: only a verified one
    const nameMode = who.name || locked() ? "hidden" : pc.name || "optional";
    const emailMode = who.email || locked() ? "hidden" : isOff ? "required" : pc.email || "optional";
    // The first question: always in the offline form; in the pre-chat form as the site says.
    const qMode = isOff ? "required" : pc.question === "off" ? "hidden" : pc.question === "on" ? "optional" : "required";
    const key = JSON.stringify([mode, intro, next, depts, nameMode, emailMode, qMode, signIn, offView, cfg]);
    if (key === formKey) return;
    formKey = key;
    formMode = mode;
    // What the visitor already typed survives a redraw (the site's hours
    // or departments arriving while the form is on screen).
    const typed: Record<string, string> = {};
    for (const el of fieldEls()) typed[el.name] = el.value;
    const had = root.activeElement as HTMLInputElement | null;
    const focused = had && form.contains(had) ? had.name : "";
    form.textContent = "";
    if (mode === "done") {
      form.append(h("p", { role: "status" }, t("offlineDone")));
      return;
    }
    const fields: [string, string, string, string][] = []; // name, label, mode, type
    if (nameMode !== "hidden") fields.push(["name", t("name"), nameMode, "text"]);
    if (emailMode !== "hidden") fields.push(["email", t("email"), emailMode, "email"]);
    if (depts.length) fields.push(["dept", t("department"), "optional", "select"]);
    if (!signIn && qMode !== "hidden") fields.push(["body", t("question"), qMode, "textarea"]);
    form.append(
      h("p", {}, h("b", {}, isOff ? t("offlineTitle") : cfg.greeting || t("greeting"))),
      h("p", { dir: "auto" }, intro),
      ...nextOpen(next),
    );
    if (signIn) form.append(h("p", { role: "status" }, t("signIn")));
    for (const [n, label, fm, type] of fields) {
      const id = "sb-f-" + n;
      const input =
        type === "textarea"
          ? h("textarea", { name: n, id, rows: "3", required: fm === "required", maxlength: "8192" })
          : type === "select"
            ? h("select", { name: n, id }, h("option", { value: "" }, t("anyDepartment")))
            : h("input", { name: n, id, type, required: fm === "required", autocomplete: n });
      for (const d of depts) (input as HTMLSelectElement).append(h("option", { value: String(d.id), selected: d.id === dept }, d.name));
      const errEl = h("span", { class: "fe", id: id + "-e", "aria-live": "polite" });
      input.setAttribute("aria-describedby", errEl.id);
      form.append(h("label", { for: id }, label, fm === "optional" ? h("small", {}, " " + t("optional")) : "", input, errEl));
    }
    for (const el of fieldEls()) {
      if (typed[el.name]) el.value = typed[el.name];
      if (el.name === focused) el.focus();
    }
    if (!signIn) form.append(h("button", { type: "submit", class: "sd" }, isOff ? t("offlineSend") : t(bot() ? "ask" : "start")));
    if (offView) {
      const back = h("button", { type: "button", class: "lk" }, t("back"));
      back.onclick = () => ((offView = false), render());
      form.append(back);
    }
  }

  function validateForm(): Record<string, string> | null {
    const v: Record<string, string> = {};
    let first: HTMLElement | null = null;
    for (const el of fieldEls()) {
      const val = el.value.trim();
      let e = "";
      if (el.required && !val) e = t("required");
      else if (el.name === "email" && val && !EMAIL.test(val)) e = t("invalidEmail");
      else if (el.name === "body" && bytes(val) > 8192) e = t("tooLong");
      el.setAttribute("aria-invalid", String(!!e));
      (form.querySelector("#" + el.id + "-e") as HTMLElement).textContent = e;
      if (e && !first) first = el;
      v[el.name] = val;
    }
    if (first) {
      (first as HTMLElement).focus();
      return null;
    }
    return v;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = validateForm();
    if (!v) return;
    if (formMode === "offline" && locked()) return; // nothing to send: the visitor signs in on the site first
    given = { name: v.name || given.name, email: v.email || given.email };
    put("who", given);
    if (formMode !== "prechat") return void leaveMessage(v);
    dept = +v.dept || 0;
    put("dept", dept);
    form.reset(); // sent: not to be restored into the next form
    enqueue(v.body || "");
    text.focus();
  });

  function msgNode(m: Msg | Pending, pending: boolean): HTMLElement {
    const key = pending ? "p:" + (m as Pending).cid : "m:" + (m as Msg).seq;
    let el = nodes.get(key);
    if (el) return el;
    if (!pending && (m as Msg).kind === "event") {
      // System lines (joined, left, transferred, ended…) as the server
      // words them; the site's own texts (after-hours auto-reply, the
      // unanswered message) in a box.
      const ev = (m as Msg).event || "";
      el = h("li", { class: ev === "auto_reply" || ev === "unanswered" ? "s ar" : "s", dir: "auto" }, (m as Msg).body);
    } else {
      const mine = pending || (m as Msg).author_kind === "visitor";
      const bubble = h("div", { class: "bu", dir: "auto" });
      if (m.body) bubble.append(m.body); // text, never markup
      const att = pending ? (m as Pending).att : (m as Msg).attachment;
      if (att) bubble.append(attNode(att, pending));
      const who = mine ? t("you") : (m as Msg).author_name || "";
      el = h(
        "li",
        { class: "m " + (mine ? "me" : "them") + (pending ? " pe" : "") },
        h("span", { class: "w" }, who),
        bubble,
        h("span", { class: "mt" }),
      );
    }
    nodes.set(key, el);
    return el;
  }

  function attNode(a: Att, pending: boolean): Node {
    if (pending) return document.createTextNode("📎 " + a.name);
    if (/^image\/(png|jpeg|gif|webp)/.test(a.content_type)) {
      const img = h("img", { alt: a.name });
      const cached = imgs.get(a.id);
      if (cached) img.src = cached;
      else
        fetchBlob(a.id).then((u) => {
          if (u) img.src = u;
        });
      return img;
    }
    const b = h("button", { type: "button", class: "f" }, "📎 " + a.name);
    b.setAttribute("aria-label", t("download", a.name));
    b.onclick = () =>
      fetchBlob(a.id).then((u) => {
        if (!u) return;
        const l = h("a", { href: u, download: a.name });
        root.append(l);
        l.click();
        l.remove();
      });
    return b;
  }

  async function fetchBlob(id: number): Promise<string> {
    const c = imgs.get(id);
    if (c) return c;
    try {
      const r = await fetch(api + "/attachments/" + id, { headers: { Authorization: "Bearer " + token } });
      if (!r.ok) return "";
      const u = URL.createObjectURL(await r.blob());
      imgs.set(id, u);
      return u;
    } catch (_) {
      return "";
    }
  }

  function drawList() {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items: HTMLElement[] = [];
    const seqs = Array.from(msgs.keys()).sort((a, b) => a - b);
    const held = new Set<string>();
    let seenSeq = 0;
    for (const s of seqs) {
      const m = msgs.get(s)!;
      if (m.client_id && m.author_kind === "visitor") held.add(m.client_id);
      if (m.author_kind === "visitor" && s <= agentRead) seenSeq = s;
    }
    let prevAuthor = "";
    // The site's greeting at the top of the conversation.
    if (cfg.greeting && (seqs.length || out.length)) {
      if (!greetEl || greetEl.textContent !== cfg.greeting) greetEl = h("li", { class: "s ar gr", dir: "auto" }, cfg.greeting);
      items.push(greetEl);
    }
    for (const s of seqs) {
      const m = msgs.get(s)!;
      const el = msgNode(m, false);
      if (m.kind !== "event") {
        const who = m.author_kind + (m.author_name || "");
        (el.firstChild as HTMLElement).hidden = who === prevAuthor;
        prevAuthor = who;
        (el.lastChild as HTMLElement).textContent = fmtTime(m.created_at) + (s === seenSeq ? " · " + t("seen") : "");
      } else prevAuthor = "";
      items.push(el);
    }
    for (const p of out) {
      if (held.has(p.cid) || (!p.body && !p.att)) continue;
      const el = msgNode(p, true);
      (el.firstChild as HTMLElement).hidden = prevAuthor.startsWith("visitor");
      prevAuthor = "visitor" + (me().name || "");
      (el.lastChild as HTMLElement).textContent = t("sending");
      items.push(el);
    }
    const nobody = unanswered() || (chat && chat.chat.end_reason === "visitor_left");
    if (chatState === "bot" && conv) items.push(info.widget_mode === "hybrid" && !humansUnavailable && !closed() ? humanCard() : offCard());
    else if (chatState === "ended" && conv && !nobody) items.push(ratingNode());
    else if (conv && !live() && !out.length && (nobody || closed() || humansUnavailable) && !(kept && me().email))
      items.push(offCard());
    const tr = chatState === "ended" && conv && !out.length ? trNode() : null;
    if (tr) items.push(tr);
    const keep = new Set(items);
    for (const [k, el] of nodes) if (!keep.has(el)) el.remove(), k.startsWith("p:") && nodes.delete(k);
    items.forEach((el, i) => {
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
    });
    while (list.children.length > items.length) (list.lastChild as Element).remove(); // a rating or card no longer due
    if (atBottom || !shown) list.scrollTop = list.scrollHeight;
  }

  // "Talk to a human" under a chat with the assistant (hybrid mode): one
  // tap hands the chat to the team's queue (POST .../handoff); the queue
  // place and the agent then show as for any chat. Outside business hours,
  // or with nobody there, the offline form takes its place.
  let greetEl: HTMLElement | null = null;
  let humanEl: HTMLElement | null = null;
  let hoBusy = false;
  function humanCard(): HTMLElement {
    if (humanEl && humanEl.dataset.k === String(hoBusy)) return humanEl;
    const b = h("button", { type: "button", class: "sd", disabled: hoBusy }, t("talkToHuman"));
    b.onclick = handoff;
    return (humanEl = h("li", { class: "rt hu", "data-k": String(hoBusy) }, b));
  }
  async function handoff() {
    const id = conv;
    const since = evN;
    hoBusy = true;
    notice = "";
    render();
    try {
      const v = await rest("POST", "/conversations/" + id + "/handoff", dept ? { department_id: dept } : {});
      if (v.queue && fresh("q" + id, since)) queues.set(id, v.queue);
      if (v.chat && id === conv && fresh("c" + id, since)) (chat = v.chat), (chatState = v.chat.chat.state);
    } catch (e) {
      const code = (e as Problem).code;
      if (code === "humans_not_available") humansUnavailable = true;
      else if (code === "outside_business_hours" || code === "nobody_available") setOff({ message: (e as Problem).message });
      else if (code !== "no_live_chat") notice = t("handoffFailed");
    }
    hoBusy = false;
    saveSoon();
    render();
  }

  // Rating after the chat ends: POST .../rating. The thanks shows at once;
  // 409 already_rated counts as done (another tab, a retry); any other
  // failure brings the form back with a polite note.
  let ratingEl: HTMLElement | null = null;
  let ratingFor = 0;
  let ratingErr = "";
  function ratingNode(): HTMLElement {
    const chatId = (chat && chat.chat.id) || lastChatId();
    if (ratingEl && ratingFor === chatId) return ratingEl;
    ratingFor = chatId;
    const done = get<Rating | null>("rated:" + chatId, null);
    const box = h("li", { class: "rt" });
    ratingEl = box;
    if (done) {
      box.append(h("span", { role: "status" }, t("thanks")));
      if (!done.sent) sendRating(done); // sent by an earlier page that closed too soon
      return box;
    }
    let score = 0;
    const stars = h("div", { class: "st", role: "radiogroup", "aria-label": t("rateTitle") });
    const comment = h("textarea", { rows: "2", maxlength: "2000", "aria-label": t("comment"), placeholder: t("comment") });
    const submit = h("button", { type: "button", class: "sd", disabled: true }, t("submitRating"));
    const paint = () =>
      Array.from(stars.children).forEach((b, i) => {
        b.setAttribute("aria-checked", String(i < score));
        (b as HTMLElement).tabIndex = i + 1 === (score || 1) ? 0 : -1;
      });
    for (let i = 1; i <= 5; i++) {
      const b = h("button", { type: "button", role: "radio", "aria-label": t("rate", i) }, "★");
      b.onclick = () => {
        score = i;
        submit.disabled = false;
        paint();
      };
      b.onkeydown = (e) => {
        const d = e.key === "ArrowRight" || e.key === "ArrowUp" ? 1 : e.key === "ArrowLeft" || e.key === "ArrowDown" ? -1 : 0;
        if (!d) return;
        e.preventDefault();
        const n = Math.min(5, Math.max(1, i + (panel.dir === "rtl" && e.key.startsWith("Arrow") && e.key.length > 7 ? -d : d)));
        (stars.children[n - 1] as HTMLElement).click();
        (stars.children[n - 1] as HTMLElement).focus();
      };
      stars.append(b);
    }
    paint();
    submit.onclick = () => {
      const r = { score, comment: comment.value.trim(), chat_id: chatId, conversation_id: conv, sent: false };
      put("rated:" + chatId, r);
      ratingErr = "";
      sendRating(r);
      ratingEl = null;
      draw();
    };
    box.append(h("b", {}, t("rateTitle")), stars, comment, submit);
    if (ratingErr) box.append(h("span", { class: "rte", role: "alert" }, ratingErr));
    return box;
  }
  // After a chat nobody answered, or when nobody can chat: the offline form
  // on request, then its confirmation.
  let cardEl: HTMLElement | null = null;
  function offCard(): HTMLElement {
    const k = String(offlineSent);
    if (cardEl && cardEl.dataset.k === k) return cardEl;
    const b = h("button", { type: "button", class: "sd" }, t("leaveMessage"));
    b.onclick = () => {
      offView = true;
      render();
      queueMicrotask(() => {
        const f = form.querySelector<HTMLElement>("input,textarea");
        if (f) f.focus();
      });
    };
    cardEl = h("li", { class: "rt", "data-k": k }, offlineSent ? h("span", { role: "status" }, t("offlineDone")) : b);
    return cardEl;
  }
  // The transcript after a chat ends. "on_request": a button; it asks for
  // an address when the visitor gave none (or the server has none), then
  // says where it went. "always": the server sends it to the address it
  // has, and the widget says so (with no address known: the button).
  let trEl: HTMLElement | null = null;
  let trKey = "";
  let trAsk = false;
  let trErr = "";
  let trBusy = false;
  let trTyped = "";
  function trNode(): HTMLElement | null {
    const mode = info.transcript;
    const chatId = (chat && chat.chat.id) || lastChatId();
    const sentTo = get("tx:" + chatId, "");
    if (mode !== "always" && mode !== "on_request") return null;
    const always = mode === "always" && !!me().email;
    const k = JSON.stringify([chatId, always, sentTo, trAsk, trErr, trBusy]);
    if (trEl && trKey === k) return trEl;
    trKey = k;
    const box = h("li", { class: "rt tr" });
    if (always || sentTo) box.append(h("span", { role: "status" }, sentTo ? t("transcriptSent", sentTo) : t("transcriptAlways")));
    else if (trAsk) {
      const input = h("input", { type: "email", id: "sb-tx", autocomplete: "email", required: true });
      input.value = trTyped;
      input.oninput = () => (trTyped = input.value);
      const f = h("form", { novalidate: true }, h("label", { for: "sb-tx" }, t("transcriptAsk")), input,
        h("button", { type: "submit", class: "sd", disabled: trBusy }, t("transcriptSend")));
      f.onsubmit = (ev) => {
        ev.preventDefault();
        const v = input.value.trim();
        if (EMAIL.test(v)) sendTranscript(v);
        else (trErr = t("invalidEmail")), render();
      };
      box.append(f);
      queueMicrotask(() => root.activeElement || input.focus());
    } else {
      const b = h("button", { type: "button", class: "sd", disabled: trBusy }, t("transcript"));
      b.onclick = () => (me().email ? sendTranscript("") : ((trAsk = true), render()));
      box.append(b);
    }
    if (trErr) box.append(h("span", { class: "rte", role: "alert" }, trErr));
    return (trEl = box);
  }
  async function sendTranscript(address: string) {
    const chatId = (chat && chat.chat.id) || lastChatId();
    trBusy = true;
    trErr = "";
    render();
    try {
      await rest("POST", "/conversations/" + conv + "/transcript", address ? { email: address } : {});
      if (address) (given = { ...given, email: address }), put("who", given);
      put("tx:" + chatId, address || me().email);
      trAsk = false;
      trTyped = "";
    } catch (e) {
      const code = (e as Problem).code;
      if (code === "no_email" || code === "invalid_email") trAsk = true;
      if (code !== "no_email") trErr = t(code === "invalid_email" ? "invalidEmail" : "transcriptFailed");
    }
    trBusy = false;
    render();
  }
  const lastChatId = () => {
    let id = 0;
    for (const m of msgs.values()) if (m.chat_id && m.chat_id > id) id = m.chat_id;
    return id;
  };
  type Rating = { score: number; comment: string; chat_id: number; conversation_id: number; sent: boolean };
  async function sendRating(r: Rating) {
    try {
      await rest("POST", "/conversations/" + r.conversation_id + "/rating", { chat_id: r.chat_id, score: r.score, comment: r.comment });
    } catch (e) {
      const code = (e as Problem).code;
      // offline: keep it and send again when the rating shows next time
      if (code !== "already_rated") {
        if (code !== "network") {
          put("rated:" + r.chat_id, null);
          ratingErr = t("rateFailed");
          if (ratingFor === r.chat_id) ratingEl = null;
          draw();
        }
        return;
      }
    }
    put("rated:" + r.chat_id, { ...r, sent: true });
  }

  // ---- the outbox ----
  function enqueue(body: string, att?: Att) {
    if (bytes(body) > 8192) {
      notice = t("tooLong");
      return render();
    }
    notice = "";
    const p: Pending = { cid: uid(), kind: live() && conv ? "send" : "req", conv, body, att, at: new Date().toISOString() };
    if (p.kind === "req" && dept) p.dept = dept;
    out.push(p);
    put("out", out);
    stopTyping();
    render();
    flush();
  }

  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (out.length && authed && !vBusy) {
        const p = out[0];
        try {
          if (p.kind === "send") {
            const m: Msg = await req("send", {
              conversation_id: p.conv,
              client_id: p.cid,
              body: p.body,
              ...(p.att ? { attachment_id: p.att.id } : {}),
            });
            addMsg(m, false);
          } else {
            const d: Record<string, unknown> = { body: p.body, client_id: p.cid };
            const who = me();
            if (who.name) d.name = who.name.slice(0, 200);
            if (who.email) d.email = who.email;
            if (p.dept) d.department_id = p.dept;
            const since = evN;
            const v = await req("request_chat", d);
            const id: number = v.conversation.id;
            if (v.offline) {
              // Outside business hours: the question was kept as a ticket.
              kept = true;
              chat = null;
              chatState = v.conversation.chat_state || "";
              setOff({ message: v.offline.message, next_open: v.offline.next_open });
              await adopt(id);
            } else {
              kept = false;
              if (off) setOff(null);
              const q: QueueStatus | undefined = v.queue;
              if (q && fresh("q" + id, since)) queues.set(id, q);
              await adopt(id, fresh("c" + id, since) ? v.chat : null);
            }
          }
          done(p);
        } catch (e) {
          const code = (e as Problem).code;
          if (code === "offline" || code === "server_restarting" || code === "unavailable" || code === "internal") break;
          if (code === "identity_required" && !locked()) {
            // Asked again without the name and email it may not claim.
            requireIdentity();
            continue;
          }
          done(p);
          if (code === "humans_not_available") {
            humansUnavailable = true;
            formKey = "";
          } else if (code === "outside_business_hours" || code === "nobody_available") {
            setOff({ message: (e as Problem).message });
            loadSite(); // when it opens again
          } else {
            if (code === "department_not_found") (dept = 0), put("dept", 0);
            notice = t("notSent", p.body.slice(0, 40)) + " — " + ((e as Problem).message || t("errorGeneric"));
          }
          render();
        }
      }
    } finally {
      flushing = false;
    }
  }
  function done(p: Pending) {
    out = out.filter((x) => x.cid !== p.cid);
    put("out", out);
    render();
  }

  // ---- timeline ----
  function addMsg(m: Msg, isLive: boolean) {
    if (m.conversation_id !== conv || m.visibility === "internal" || msgs.has(m.seq)) return;
    msgs.set(m.seq, m);
    if (m.author_kind !== "visitor" && m.kind !== "event") {
      typingName = "";
      if (isLive) ctx.emit("message", { body: m.body, author: m.author_name, seq: m.seq, at: m.created_at });
    }
    if (m.event === "chat_requested" || m.event === "joined") chatState = m.event === "joined" ? "active" : "waiting";
    if (m.event === "ended" || m.event === "unanswered") chatState = "ended";
    saveSoon();
    render();
    readSoon();
    unread();
  }
  let saveTimer = 0;
  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = window.setTimeout(() => {
      const arr = Array.from(msgs.values()).sort((a, b) => a.seq - b.seq).slice(-300);
      put("msgs:" + conv, arr);
      put("conv", conv);
      put("state", chatState);
      put("epoch", epoch);
    }, 100);
  }
  function unread() {
    let n = 0;
    for (const m of msgs.values()) if (m.seq > myRead && m.author_kind !== "visitor" && m.kind !== "event") n++;
    ctx.setUnread(shown ? 0 : n);
  }
  let readTimer = 0;
  let readSent = 0;
  function readSoon() {
    clearTimeout(readTimer);
    readTimer = window.setTimeout(() => {
      if (!shown || document.visibilityState !== "visible" || !conv) return;
      const s = maxSeq();
      if (s > myRead) {
        myRead = s;
        put("read:" + conv, s);
      }
      unread();
      if (s > readSent && authed) {
        readSent = s;
        req("read", { conversation_id: conv, seq: s }).catch(() => (readSent = 0));
      }
    }, 300);
  }

  // Forget the timeline on screen (another conversation, or a reload from the store).
  function clearTimeline() {
    msgs.clear();
    for (const [k, el] of nodes) if (k.startsWith("m:")) el.remove(), nodes.delete(k);
  }

  // Switch to conversation id (a new chat may open a new conversation).
  async function adopt(id: number, cv?: ChatView | null) {
    if (cv) {
      chat = cv;
      chatState = cv.chat.state;
    }
    if (id !== conv) {
      conv = id;
      clearTimeline();
      ratingEl = null;
      myRead = get("read:" + conv, 0);
      agentRead = 0;
      for (const m of get<Msg[]>("msgs:" + conv, [])) msgs.set(m.seq, m);
      put("conv", conv);
      await subscribe();
    }
    saveSoon();
    render();
  }

  async function subscribe() {
    if (!conv) return;
    const after = maxSeq();
    // The server replays what was missed before it acks: not news for the page's listeners.
    replaying = true;
    let ack: { recovered: boolean };
    try {
      ack = await req("subscribe", { conversation_id: conv, after_seq: after, epoch: after ? epoch : "" });
    } finally {
      replaying = false;
    }
    if (!ack.recovered) {
      // Reload over REST, merging by seq with what arrives live meanwhile.
      clearTimeline();
      let a = 0;
      for (;;) {
        const r = await rest("GET", "/conversations/" + conv + "/messages?limit=500&after_seq=" + a);
        const page: Msg[] = r.messages || [];
        for (const m of page) addMsg(m, false);
        if (page.length < 500) break;
        a = page[page.length - 1].seq;
      }
    }
    try {
      const since = evN;
      const id = conv;
      const v = await rest("GET", "/conversations/" + id);
      if (id !== conv) return;
      if (v.queue && fresh("q" + id, since)) queues.set(id, v.queue);
      // read marks: "Seen" survives a reload
      for (const r of v.read_marks || []) {
        if (r.conversation_id !== conv) continue;
        if (r.reader_kind === "visitor") {
          if (r.seq > myRead) (myRead = r.seq), put("read:" + conv, myRead), unread();
        } else if (r.seq > agentRead) agentRead = r.seq;
      }
      // unless a chat event during the fetch told newer
      if (fresh("c" + id, since)) {
        if (v.chat) chat = v.chat;
        chatState = (v.chat && v.chat.chat.state) || v.conversation.chat_state || "";
      }
      render();
    } catch (_) {
      /* the socket events will tell */
    }
  }

  async function rest(method: string, path: string, body?: unknown): Promise<any> {
    const r = await fetch(api + path, {
      method,
      headers: { Authorization: "Bearer " + token, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).catch(() => {
      throw { code: "network" } as Problem;
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw { code: j.code || "http_" + r.status, message: j.title } as Problem;
    return j;
  }

  // ---- the socket ----
  let ws: WebSocket | null = null;
  let authed = false;
  let connLost = false;
  let attempt = 0;
  let retryTimer = 0;
  let nextId = 0;
  let stopped = false;
  let replaying = false;
  const replies = new Map<string, [(d: any) => void, (e: Problem) => void]>();

  function req(type: string, data?: unknown): Promise<any> {
    return new Promise((ok, err) => {
      if (!ws || ws.readyState !== 1 || (!authed && type !== "auth")) return err({ code: "offline" });
      const id = String(++nextId);
      replies.set(id, [ok, err]);
      ws.send(JSON.stringify({ id, type, data }));
    });
  }

  // The site as the server has it now (hours, departments): a stored
  // session asks on connect (again after a connection that was lost), the
  // stored copy standing in until the answer comes.
  let siteFresh = false;
  function loadSite() {
    const tk = token;
    const n = offN;
    if (!tk) return;
    siteFresh = true;
    rest("GET", "/site").then(
      (s: Site) => tk === token && applySite(s, n === offN),
      () => (siteFresh = false),
    );
  }

  async function ensureToken(): Promise<boolean> {
    if (token) {
      if (!siteFresh) loadSite();
      return true;
    }
    const r = await fetch(api + "/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ site_key: site }),
    });
    const j = await r.json().catch(() => ({}));
    if (r.status === 201 && j.token) {
      token = j.token;
      setToken(token);
      siteFresh = true;
      applySite(j.site || {});
      return true;
    }
    if (j.code === "origin_not_allowed") fatal = t("errorOrigin");
    else if (j.code === "invalid_site_key" || j.code === "site_not_found") fatal = t("errorSite");
    else throw new Error(j.code || "http " + r.status);
    render();
    return false;
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (ws || stopped || fatal) return;
    try {
      if (!(await ensureToken())) return;
    } catch (_) {
      return retry();
    }
    // The page's signed identity first, so that the socket authenticates
    // as that person (their conversations, their name on the chat).
    await verify();
    sendAttrs();
    if (ws || stopped) return;
    const s = new WebSocket(base.replace(/^http/, "ws") + "/ws/visitor");
    ws = s;
    s.onopen = () => {
      req("auth", { token })
        .then(onAuth)
        .catch((e: Problem) => {
          if (e.code === "unauthenticated" || e.code === "token_revoked") {
            // A token the server no longer knows: start over as a new visitor.
            token = null;
            setToken(null);
            wipe();
            unverify();
          } else if (e.code === "origin_not_allowed") fatal = t("errorOrigin");
          render();
        });
    };
    s.onmessage = (ev) => {
      let f: any;
      try {
        f = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      onFrame(f);
    };
    s.onclose = (ev) => {
      if (ws !== s) return;
      if (authed) siteFresh = false; // it may have changed while we were away
      ws = null;
      authed = false;
      connLost = true;
      for (const [, [, err]] of replies) err({ code: "offline" });
      replies.clear();
      if (ev.code === 4003) fatal = t("errorOrigin");
      render();
      retry();
    };
  }
  function retry() {
    if (stopped || fatal) return;
    clearTimeout(retryTimer);
    // Exponential back-off with jitter: 0.25-0.5 s, then doubling to 15 s.
    const cap = Math.min(15000, 500 * 2 ** Math.min(attempt++, 5));
    retryTimer = window.setTimeout(connect, cap / 2 + (Math.random() * cap) / 2);
  }
  function reconnectNow() {
    if (!ws && !stopped) {
      attempt = 0;
      connect();
    }
  }
  // Drops the socket (on purpose: no "connection lost") and connects again.
  function redial() {
    if (ws) {
      const s = ws;
      ws = null;
      authed = false;
      s.close(1000);
    }
    for (const [, [, err]] of replies) err({ code: "offline" });
    replies.clear();
    reconnectNow();
  }

  // ---- identity verification (the loader sends it: ctx.verify) ----
  // Resolves to the verified contact's id, 0 when there is no signed
  // identity or it was refused (the visitor stays anonymous).
  async function verify(): Promise<number> {
    const tk = token;
    if (!identity.hash || !tk) return 0;
    vBusy++;
    let c = 0;
    try {
      c = await ctx.verify(tk);
    } finally {
      vBusy--;
    }
    if (tk !== token || !c) return 0;
    if (!verified) {
      verified = true;
      put("v", 1);
      render();
    }
    return c;
  }
  // Attributes without a signed identity go to the server as the visitor's
  // own, unverified (staff see them marked so), unless the site requires
  // verification; once per token and set of attributes, again after a
  // failure that a later call may not repeat.
  let aKey = "";
  function sendAttrs() {
    const a = identity.attributes;
    const tk = token;
    const k = tk + JSON.stringify(a);
    if (identity.hash || !a || !tk || info.identity_required || k === aKey) return;
    aKey = k;
    fetch(api + "/attributes", {
      method: "POST",
      headers: { Authorization: "Bearer " + tk, "Content-Type": "application/json" },
      body: JSON.stringify({ attributes: a }),
    })
      .then(async (r) => {
        if (r.status == 401 || r.status > 499) aKey = "";
        else if (!r.ok) console.warn("Switchboard('attributes') refused: " + (await r.json()).code);
      })
      .catch(() => (aKey = ""));
  }
  function unverify() {
    verified = false;
    contactId = 0;
    put("v", null);
    put("contact", null);
  }

  async function onAuth(d: { epoch: string; contact_id: number; conversations: { id: number; chat_state?: string }[] | null }) {
    authed = true;
    connLost = false;
    attempt = 0;
    const was = contactId || get("contact", 0);
    contactId = d.contact_id;
    put("contact", contactId);
    if (was && was !== contactId) {
      // Another person now (a verified identity whose history this browser
      // continues): the conversation on screen was the one before's.
      const reqs = out.filter((p) => p.kind === "req");
      wipe();
      out = reqs;
      put("out", out);
      put("conv", 0);
    }
    if (epoch && d.epoch !== epoch) {
      // Another database: every cursor is meaningless.
      clearTimeline();
    }
    epoch = d.epoch;
    put("epoch", epoch);
    lastPresence = "";
    presence();
    const newest = (d.conversations || [])[0];
    try {
      if (newest && newest.id !== conv) await adopt(newest.id);
      else if (conv) await subscribe();
    } catch (_) {
      /* socket dropped: retried on reconnect */
    }
    render();
    flush();
  }

  function onFrame(f: any) {
    if (f.type === "ack" || f.type === "error") {
      const r = replies.get(f.id);
      if (!r) return;
      replies.delete(f.id);
      if (f.type === "ack") r[0](f.data || {});
      else r[1](f.error);
      return;
    }
    const d = f.data || {};
    switch (f.type) {
      case "message":
        addMsg(d, !replaying);
        break;
      case "chat":
        evAt.set("c" + f.conversation_id, ++evN);
        if (f.conversation_id === conv) {
          chat = d;
          chatState = d.chat.state;
          if (live()) kept = false;
          if (chatState === "ended") typingName = "";
          saveSoon();
          render();
        } else if (LIVE.includes(d.chat.state)) adopt(f.conversation_id, d).catch(() => 0); // a chat started in another tab
        break;
      case "queue":
        evAt.set("q" + f.conversation_id, ++evN);
        queues.set(f.conversation_id, d);
        render();
        break;
      case "typing":
        if (d.party !== "visitor" && f.conversation_id === conv) {
          typingName = d.typing ? d.name || t("title") : "";
          clearTimeout(typingTimer);
          if (d.typing) typingTimer = window.setTimeout(() => ((typingName = ""), render()), 6000);
          render();
        }
        break;
      case "read":
        if (f.conversation_id !== conv) break;
        if (d.reader_kind === "visitor") {
          if (d.seq > myRead) (myRead = d.seq), put("read:" + conv, myRead), unread();
        } else if (d.seq > agentRead) (agentRead = d.seq), render();
        break;
    }
  }

  // ---- typing (throttled: at most one "typing" every 2 s, "stopped" after 3 s idle) ----
  let typingAt = 0;
  let typingOn = false;
  let idleTimer = 0;
  function stopTyping() {
    clearTimeout(idleTimer);
    if (typingOn && authed && conv) req("typing", { conversation_id: conv, typing: false }).catch(() => 0);
    typingOn = false;
    typingAt = 0;
  }
  text.addEventListener("input", () => {
    text.style.height = "auto";
    text.style.height = Math.min(120, text.scrollHeight) + "px";
    if (!conv || !live() || !authed) return;
    if (!text.value.trim()) return stopTyping();
    const now = Date.now();
    if (now - typingAt > 2000) {
      typingAt = now;
      typingOn = true;
      req("typing", { conversation_id: conv, typing: true }).catch(() => 0);
    }
    clearTimeout(idleTimer);
    idleTimer = window.setTimeout(stopTyping, 3000);
  });
  const submitText = () => {
    const v = text.value.trim();
    if (!v) return;
    text.value = "";
    text.style.height = "auto";
    enqueue(v);
  };
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitText();
    }
  });
  sendBtn.onclick = submitText;
  emojiBtn.onclick = () => {
    emojis.hidden = !emojis.hidden;
    emojiBtn.setAttribute("aria-expanded", String(!emojis.hidden));
  };
  minBtn.onclick = () => ctx.setOpen(false);
  // Ending takes two clicks ("End chat" → "End this chat?"), not a blocking confirm().
  let armed = 0;
  endBtn.onclick = () => {
    if (!conv) return;
    if (!armed) {
      endBtn.textContent = t("endConfirm");
      armed = window.setTimeout(() => ((armed = 0), (endBtn.textContent = t("endChat"))), 4000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    endBtn.textContent = t("endChat");
    req("end_chat", { conversation_id: conv }).catch((e: Problem) => {
      if (e.code !== "chat_ended" && e.code !== "no_live_chat") (notice = e.message || t("errorGeneric")), render();
    });
  };

  // ---- uploads: checked here first (size, type), then the server checks again ----
  attachBtn.onclick = () => file.click();
  file.onchange = () => {
    const f = file.files && file.files[0];
    file.value = "";
    if (f) upload(f);
  };
  function upload(f: File) {
    const max = cfg.maxUploadBytes || 10 << 20;
    notice = "";
    if (f.size > max) notice = t("fileTooLarge", Math.floor(max / 1048576));
    else if (f.type && !/^(image\/(png|jpeg|gif|webp)|application\/(pdf|zip)|text\/|audio\/|video\/(mp4|webm))/.test(f.type))
      notice = t("fileType");
    else if (!conv || !authed) notice = t("uploadFailed", f.name);
    if (notice) return render();
    const x = new XMLHttpRequest();
    const fd = new FormData();
    fd.append("file", f, f.name);
    x.open("POST", api + "/conversations/" + conv + "/attachments");
    x.setRequestHeader("Authorization", "Bearer " + token);
    upText.hidden = progress.hidden = false;
    const show = (p: number) => {
      upText.textContent = t("uploading", p, f.name);
      upBar.style.width = p + "%";
    };
    show(0);
    x.upload.onprogress = (e) => e.lengthComputable && show(Math.round((100 * e.loaded) / e.total));
    x.onloadend = () => {
      upText.hidden = progress.hidden = true;
      let j: any = {};
      try {
        j = JSON.parse(x.responseText);
      } catch (_) {
        /* not JSON */
      }
      if (x.status === 201) {
        const p: Pending = { cid: uid(), kind: "send", conv, body: "", att: j, at: new Date().toISOString() };
        out.push(p);
        put("out", out);
        render();
        flush();
        return;
      }
      notice =
        j.code === "file_too_large"
          ? t("fileTooLarge", Math.floor(max / 1048576))
          : j.code === "file_type_not_allowed"
            ? t("fileType")
            : t("uploadFailed", f.name) + (j.title ? " — " + j.title : "");
      render();
    };
    x.send(fd);
  }

  // The offline form ("leave a message"): POST /api/v1/visitor/tickets
  // creates an open, unassigned ticket. If it fails the visitor is told
  // plainly that the message was not left.
  // One client id per message left, so a resubmitted form (after a network
  // error) returns the ticket it created instead of a second one.
  let offlineCid = "";
  async function leaveMessage(v: Record<string, string>) {
    offlineCid = offlineCid || "off-" + uid();
    try {
      const who = me();
      await rest("POST", "/tickets", { name: v.name || who.name || "", email: v.email || who.email, body: v.body, client_id: offlineCid });
      offlineCid = "";
      form.reset();
      offlineSent = true;
      offView = false;
      formKey = "";
      notice = "";
    } catch (e) {
      if ((e as Problem).code === "identity_required") requireIdentity();
      else notice = t("offlineUnavailable");
    }
    render();
  }
  // The server says the site requires a verified identity (news to this widget's copy of the site).
  function requireIdentity() {
    info.identity_required = true;
    verified = false;
    put("v", null);
    put("site", info);
    formKey = "";
  }

  // ---- presence: on change, and a ping every 25 s ----
  let lastPresence = "";
  function presence() {
    if (!authed) return;
    const href = location.href;
    // The time zone and language let agents see the visitor's local time;
    // sent only when they fit the server's limits (a bad value would fail
    // the whole frame).
    let timezone = "";
    try {
      timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (_) {
      /* no Intl: unknown */
    }
    const locale = navigator.language || "";
    const p = {
      url: /^https?:/.test(href) ? clip(href, 2048) : "",
      title: clip(document.title || "", 512),
      visible: document.visibilityState === "visible",
      minimized: !shown,
      timezone: /^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+){0,3}$/.test(timezone) && timezone.length <= 64 ? timezone : "",
      locale: /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,8}$/.test(locale) && locale.length <= 35 ? locale : "",
    };
    const k = JSON.stringify(p);
    if (k === lastPresence) return;
    lastPresence = k;
    req("presence", p).catch(() => (lastPresence = ""));
  }
  setInterval(() => {
    if (!authed) return;
    presence();
    req("ping").catch(() => 0);
  }, 25000);
  document.addEventListener("visibilitychange", () => {
    presence();
    if (document.visibilityState === "visible") reconnectNow(), readSoon();
  });
  addEventListener("popstate", presence);
  addEventListener("hashchange", presence);
  addEventListener("online", reconnectNow);
  addEventListener("pagehide", (e) => {
    if (e.persisted) return;
    stopped = true;
    if (ws) ws.close(1000);
  });
  addEventListener("pageshow", (e) => {
    if (e.persisted) (stopped = false), reconnectNow();
  });

  // ---- focus trap and keyboard in the open panel ----
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      ctx.setOpen(false);
      return;
    }
    if (e.key !== "Tab") return;
    const f = Array.from(
      panel.querySelectorAll<HTMLElement>("button,textarea,input,select,[tabindex]:not([tabindex='-1'])"),
    ).filter((el) => !el.hasAttribute("disabled") && el.tabIndex >= 0 && el.offsetParent !== null);
    if (!f.length) return;
    const cur = root.activeElement;
    if (e.shiftKey && cur === f[0]) (e.preventDefault(), f[f.length - 1].focus());
    else if (!e.shiftKey && cur === f[f.length - 1]) (e.preventDefault(), f[0].focus());
  });

  function wipe() {
    conv = 0;
    epoch = "";
    chat = null;
    chatState = "";
    msgs.clear();
    out = [];
    myRead = agentRead = readSent = 0;
    for (const el of nodes.values()) el.remove();
    nodes.clear();
    ratingEl = cardEl = trEl = humanEl = null;
    hoBusy = false;
    trAsk = false;
    trErr = "";
    humansUnavailable = offlineSent = kept = offView = false;
    queues.clear();
    formKey = "";
  }

  if (off) setOff(off);
  applyConfig();
  connect();

  return {
    open() {
      shown = true;
      panel.hidden = false;
      draw();
      list.scrollTop = list.scrollHeight;
      presence();
      readSoon();
      unread();
      const first = form.hidden ? text : form.querySelector<HTMLElement>("input,textarea");
      (first || text).focus();
    },
    close() {
      shown = false;
      panel.hidden = true;
      stopTyping();
      presence();
      ctx.launcher.focus();
    },
    identify(i) {
      identity = i;
      formKey = "";
      render();
      // A socket authenticated as someone else: connect again, as the
      // verified person (their conversations); else what waited for it goes.
      verify().then((c) => (c && ws && c !== contactId ? redial() : flush()));
      sendAttrs();
    },
    config(c) {
      cfg = c;
      applyConfig();
    },
    reset() {
      if (ws) {
        const s = ws;
        ws = null;
        authed = false;
        s.close(1000);
      }
      for (const [, [, err]] of replies) err({ code: "offline" });
      replies.clear();
      token = null;
      given = {};
      wipe();
      unverify();
      render();
      connect();
    },
  };
}

(window as unknown as { Switchboard: (...a: unknown[]) => void }).Switchboard("_mount", mount);
