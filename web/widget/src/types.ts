// Types shared by the loader (widget.js) and the chat UI (ui.js). Type-only:
// nothing here ends up in either bundle.

/** Everything a site can configure: its admin in the site's widget settings
 * (on the server; they win for every field the admin set), the host page with
 * Switchboard('config', {...}) or data- attributes on the script tag (for the
 * rest). docs/widget.md, "Appearance and texts". */
export interface WidgetConfig {
  /** Accent colour (any CSS colour). data-color. */
  color?: string;
  /** Launcher and panel side. data-position. */
  position?: "left" | "right";
  /** Text shown next to the launcher icon (empty: icon only). data-launcher-text. */
  launcherText?: string;
  /** First line shown above the pre-chat form. */
  greeting?: string;
  /** Text direction of the UI; default: the host document's. */
  dir?: "ltr" | "rtl";
  /** BCP 47 locale for times; default: the browser's. */
  locale?: string;
  /** Any visible string, by key (see src/strings.ts). */
  strings?: Record<string, string>;
  /** Pre-chat form fields: name and email; the department choice ("on" by
   * default, when the site has departments); the first question ("required"
   * by default, "on": optional, "off": not asked). */
  prechat?: { name?: FieldMode; email?: FieldMode; department?: "on" | "off"; question?: "on" | "off" | "required" };
  /** Largest upload the widget accepts before sending (bytes; the server enforces its own). */
  maxUploadBytes?: number;
}

export type FieldMode = "required" | "optional" | "hidden";

/** Who the visitor is, as the page says (Switchboard('identify', {...})).
 * With a hash (signed by the site's backend) it is verified by the server. */
export interface Identity {
  /** The site's own id for its logged-in user: what the hash signs when given. */
  user_id?: string;
  email?: string;
  name?: string;
  attributes?: Record<string, unknown>;
  /** hex(HMAC-SHA256(site identity secret, user_id or lower-cased email)). */
  hash?: string;
}

/** What the loader hands the chat UI when it mounts. */
export interface MountContext {
  site: string;
  base: string;
  root: ShadowRoot;
  cfg: WidgetConfig;
  identity: Identity;
  emit(event: string, data?: unknown): void;
  setUnread(n: number): void;
  /** The UI asks the loader to open or close the panel (close button, Escape). */
  setOpen(open: boolean): void;
  launcher: HTMLButtonElement;
  isOpen(): boolean;
  /** Sends the page's signed identity (with a hash) for this session token
   * to POST /api/v1/visitor/identify, once per token and identity: the same
   * promise again while nothing changed. Resolves to the verified contact's
   * id, or 0 (refused: logged for the site's developer; or failed: tried
   * again at the next call). */
  verify(token: string): Promise<number>;
}

/** What the chat UI gives back to the loader. */
export interface UIHandle {
  open(): void;
  close(): void;
  identify(i: Identity): void;
  config(c: WidgetConfig): void;
  reset(): void;
}

export type Mount = (ctx: MountContext) => UIHandle;
