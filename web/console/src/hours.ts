// The business-hours editor's text format, to and from the schedule JSON of
// PATCH /api/v1/sites/{id} ("hours"). Pure, so it is unit tested.
//
//   a weekday:    "09:00-12:00, 13:00-17:00"   or "closed" (or empty)
//   an exception: "2026-12-25 Christmas: closed"   or "2026-12-24: 09:00-12:00"
//
// Times are wall-clock HH:MM in the schedule's time zone; "9" and "9:30" are
// accepted and written back as "09:00" and "09:30"; "24:00" ends a day.

import { InputError } from './forms';
import type { HoursException, Interval, Schedule } from './types';

export class HoursError extends InputError {}

// Days as the editor lists them (Monday first); the value is the index in
// Schedule.weekly (Sunday = 0).
export const DAYS: [number, string][] = [
  [1, 'Monday'], [2, 'Tuesday'], [3, 'Wednesday'], [4, 'Thursday'], [5, 'Friday'], [6, 'Saturday'], [0, 'Sunday'],
];

const CLOSED = /^(closed|none|-|—)?$/i;

// parseTime normalises "9", "09", "9:30" or "09:30" to "HH:MM" (null if invalid).
export function parseTime(s: string): string | null {
  const m = /^(\d{1,2})(?::(\d{2}))?$/.exec(s.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = m[2] === undefined ? 0 : Number(m[2]);
  if (h > 24 || min > 59 || (h === 24 && min !== 0)) return null;
  return `${String(h).padStart(2, '0')}:${String(min).padStart(2, '0')}`;
}

// parseIntervals reads one day's intervals, sorted; it throws HoursError
// (prefixed with label) for a malformed, empty or overlapping interval.
export function parseIntervals(text: string, label: string): Interval[] {
  const t = text.trim();
  if (CLOSED.test(t)) return [];
  const out: Interval[] = [];
  for (const part of t.split(/[,;]/)) {
    const p = part.trim();
    if (!p) continue;
    const m = /^(.+?)\s*(?:-|–|—|\bto\b)\s*(.+)$/i.exec(p);
    const start = m ? parseTime(m[1]) : null;
    const end = m ? parseTime(m[2]) : null;
    if (!start || !end) throw new HoursError(`${label}: “${p}” is not a time range like 09:00-17:00`);
    if (end <= start) throw new HoursError(`${label}: ${start}-${end} must end after it starts`);
    out.push({ start, end });
  }
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < out.length; i++) {
    if (out[i].start < out[i - 1].end) {
      throw new HoursError(`${label}: ${out[i - 1].start}-${out[i - 1].end} overlaps ${out[i].start}-${out[i].end}`);
    }
  }
  return out;
}

export function formatIntervals(iv: Interval[] | null | undefined): string {
  if (!iv || iv.length === 0) return 'closed';
  return iv.map((i) => `${i.start}-${i.end}`).join(', ');
}

function validDate(d: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(d);
  if (!m) return false;
  const dt = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return dt.getUTCFullYear() === +m[1] && dt.getUTCMonth() === +m[2] - 1 && dt.getUTCDate() === +m[3];
}

// parseExceptions reads one exception per line: "DATE [name]: closed|intervals".
// Blank lines and lines starting with # are skipped.
export function parseExceptions(text: string): HoursException[] {
  const out: HoursException[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const label = `Exception line ${i + 1}`;
    const m = /^([^\s:]+)\s*([^:]*?)\s*:\s*(.*)$/.exec(line);
    if (!m) throw new HoursError(`${label}: write it as “2026-12-25 Christmas: closed” or “2026-12-24: 09:00-12:00”`);
    const [, date, name, rest] = m;
    if (!validDate(date)) throw new HoursError(`${label}: “${date}” is not a date like 2026-12-25`);
    if (seen.has(date)) throw new HoursError(`${label}: ${date} is listed twice`);
    seen.add(date);
    const ex: HoursException = { date, intervals: parseIntervals(rest, `${label} (${date})`) };
    if (name) ex.name = name;
    out.push(ex);
  });
  return out;
}

export function formatExceptions(ex: HoursException[] | null | undefined): string {
  return (ex ?? []).map((e) => `${e.date}${e.name ? ' ' + e.name : ''}: ${formatIntervals(e.intervals)}`).join('\n');
}

// HoursForm is the editor's state: days are indexed like Schedule.weekly.
export interface HoursForm {
  alwaysOpen: boolean;
  timeZone: string;
  days: string[]; // 7, Sunday = 0
  exceptions: string;
}

export function defaultTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function formFromSchedule(s: Schedule | null | undefined, tz = defaultTimeZone()): HoursForm {
  if (!s) {
    // a sensible start when the admin switches "always open" off
    return { alwaysOpen: true, timeZone: tz, days: [0, 1, 2, 3, 4, 5, 6].map((d) => (d === 0 || d === 6 ? 'closed' : '09:00-17:00')), exceptions: '' };
  }
  const days: string[] = [];
  for (let d = 0; d < 7; d++) days.push(formatIntervals(s.weekly?.[d]));
  return { alwaysOpen: false, timeZone: s.time_zone, days, exceptions: formatExceptions(s.exceptions) };
}

const dayName = (d: number): string => DAYS.find(([i]) => i === d)![1];

// scheduleFromForm builds the JSON to send (null: always open); it throws
// HoursError with a message that names the day or line at fault.
export function scheduleFromForm(f: HoursForm): Schedule | null {
  if (f.alwaysOpen) return null;
  const tz = f.timeZone.trim();
  if (!tz) throw new HoursError('Time zone: enter an IANA name such as Europe/Paris');
  const weekly: Interval[][] = [];
  for (let d = 0; d < 7; d++) weekly.push(parseIntervals(f.days[d] ?? '', dayName(d)));
  const exceptions = parseExceptions(f.exceptions);
  const s: Schedule = { time_zone: tz, weekly };
  if (exceptions.length) s.exceptions = exceptions;
  return s;
}
