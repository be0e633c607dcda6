// The admin forms' text fields to and from the API's JSON (pure, unit tested).

import type { QueueDisplay, RoutingSettings, Strategy } from './types';

// InputError is a mistake in what the admin typed, with a message for them.
export class InputError extends Error {}

// wholeNumber reads an optional non-negative whole number: empty is 0 (the
// default), anything else that is not a whole number throws.
export function wholeNumber(v: string, what: string, emptyMeans = 'the default'): number {
  const t = v.trim();
  if (!t) return 0;
  const n = Number(t);
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(n)) throw new InputError(`${what}: enter a whole number, or leave it empty for ${emptyMeans}.`);
  return n;
}

// RoutingDraft is the routing form: every field as typed.
export interface RoutingDraft {
  strategy: string;
  offer_timeout_seconds: string;
  max_misses: string;
  max_wait_seconds: string;
  queue_display: string;
  default_department_id: string;
  disconnect_grace_seconds: string;
  requeue_after_minutes: string;
  queue_message: string;
  unanswered_message: string;
  after_hours_message: string;
  auto_reply: string;
}

const numFields: [keyof RoutingDraft & keyof RoutingSettings, string][] = [
  ['offer_timeout_seconds', 'Offer timeout'],
  ['max_misses', 'Missed offers before Away'],
  ['max_wait_seconds', 'Longest wait'],
  ['disconnect_grace_seconds', 'Disconnect grace'],
  ['requeue_after_minutes', 'Requeue after'],
];
const textFields = ['queue_message', 'unanswered_message', 'after_hours_message', 'auto_reply'] as const;

// draftOf fills the form from a site's settings (0 and unset show as empty:
// the default).
export function draftOf(r: RoutingSettings | undefined): RoutingDraft {
  const n = (v: number | undefined) => (v ? String(v) : '');
  return {
    strategy: r?.strategy || 'broadcast',
    offer_timeout_seconds: n(r?.offer_timeout_seconds),
    max_misses: n(r?.max_misses),
    max_wait_seconds: n(r?.max_wait_seconds),
    queue_display: r?.queue_display || 'position_and_estimate',
    default_department_id: n(r?.default_department_id),
    disconnect_grace_seconds: n(r?.disconnect_grace_seconds),
    requeue_after_minutes: n(r?.requeue_after_minutes),
    queue_message: r?.queue_message ?? '',
    unanswered_message: r?.unanswered_message ?? '',
    after_hours_message: r?.after_hours_message ?? '',
    auto_reply: r?.auto_reply ?? '',
  };
}

// routingOf builds the settings to send. They replace the site's settings
// whole, so defaults are simply left out. Throws InputError.
export function routingOf(d: RoutingDraft): RoutingSettings {
  const out: RoutingSettings = {};
  if (d.strategy && d.strategy !== 'broadcast') out.strategy = d.strategy as Strategy;
  for (const [k, label] of numFields) {
    const n = wholeNumber(d[k], label);
    if (n) (out as Record<string, number>)[k] = n;
  }
  if (d.queue_display && d.queue_display !== 'position_and_estimate') out.queue_display = d.queue_display as QueueDisplay;
  const dept = wholeNumber(d.default_department_id, 'Default department');
  if (dept) out.default_department_id = dept;
  for (const k of textFields) if (d[k].trim()) out[k] = d[k];
  return out;
}
