// Pure formatting helpers of the chat UI (no DOM, no state), unit-tested in
// fmt.test.ts. Words come from the strings a site may override
// (src/strings.ts); numbers, units and dates from Intl in the visitor's
// locale.

/** A string with its {n} and {name} placeholders filled in. */
export const fill = (s: string, n?: number | string, name?: string) =>
  s.replace("{n}", String(n ?? "")).replace("{name}", name ?? String(n ?? ""));

const intl = <T>(make: (locale?: string) => T, locale?: string): T => {
  try {
    return make(locale);
  } catch (_) {
    return make(); // a locale Intl does not accept: the browser's
  }
};

/**
 * The estimated wait in words. Under a minute: `soon` ("Estimated wait:
 * less than a minute"); otherwise `about` with {n} a rounded duration in the
 * locale's words: minutes below an hour ("about 2 minutes"), hours from
 * there on ("about 1 hour"). "" when there is no estimate.
 */
export function waitWords(seconds: number | undefined, about: string, soon: string, locale?: string): string {
  if (!seconds || seconds < 0) return "";
  if (seconds < 60) return soon;
  let n = Math.round(seconds / 60);
  let unit = "minute";
  if (n >= 60) (n = Math.round(n / 60)), (unit = "hour");
  let d: string;
  try {
    d = intl((l) => new Intl.NumberFormat(l, { style: "unit", unit, unitDisplay: "long" }), locale).format(n);
  } catch (_) {
    d = n + " " + unit + (n === 1 ? "" : "s"); // no Intl unit support
  }
  return fill(about, d);
}

/** The calendar day of t in timeZone (the browser's when undefined), as a UTC timestamp. */
const day = (t: Date, timeZone?: string) => {
  const p: Record<string, string> = {};
  for (const x of new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" }).formatToParts(t))
    p[x.type] = x.value;
  return Date.UTC(+p.year, +p.month - 1, +p.day);
};

/**
 * When the team is back, in the visitor's locale and time zone: the time
 * alone today ("9:00 AM"), with the weekday within a week ("Monday 9:00 AM"),
 * with the date beyond ("Monday, March 10 at 9:00 AM"). "" for a bad time.
 */
export function whenWords(iso: string | undefined, now: Date, locale?: string, timeZone?: string): string {
  const t = new Date(iso || "");
  if (!iso || isNaN(+t)) return "";
  const o: Intl.DateTimeFormatOptions = { hour: "numeric", minute: "2-digit", timeZone };
  const days = (day(t, timeZone) - day(now, timeZone)) / 864e5;
  if (days > 0) o.weekday = "long";
  if (days > 6) (o.month = "long"), (o.day = "numeric");
  return intl((l) => new Intl.DateTimeFormat(l, o), locale).format(t);
}

export interface QueueStatus {
  chat_id: number;
  position?: number;
  estimate_seconds?: number;
  message?: string;
}

/**
 * The lines shown while a chat waits for a human, in order: the state
 * ("Waiting…" or, once offered to an agent, "Connecting you…"), the place
 * and the estimate (each only when the server sent it and the site's
 * queue_display allows it), and the site's own queue message.
 */
export function queueLines(
  state: string,
  q: QueueStatus | null | undefined,
  display: string | undefined,
  s: { waiting: string; connecting: string; queue: string; wait: string; waitSoon: string },
  locale?: string,
): string[] {
  if (state === "pending") return [s.connecting];
  const out = [s.waiting];
  if (!q) return out;
  const show = (what: string) => !display || display.indexOf(what) >= 0;
  if (q.position && show("position")) out.push(fill(s.queue, q.position));
  const w = show("estimate") ? waitWords(q.estimate_seconds, s.wait, s.waitSoon, locale) : "";
  if (w) out.push(w);
  if (q.message) out.push(q.message);
  return out;
}
