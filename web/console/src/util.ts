import { isSet, type Entry } from './store';

export function ago(t: string | undefined, now = Date.now()): string {
  if (!isSet(t)) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(t!)) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60 ? (m % 60) + ' min' : ''}`.trim();
  const d = Math.floor(h / 24);
  return `${d} d`;
}

export function duration(from: string | undefined, to: string | undefined, now = Date.now()): string {
  if (!isSet(from)) return '—';
  const end = isSet(to) ? Date.parse(to!) : now;
  const s = Math.max(0, Math.round((end - Date.parse(from!)) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function clock(t: string): string {
  if (!isSet(t)) return '';
  const d = new Date(t);
  const today = new Date();
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === today.toDateString()) return hm;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
}

export function customerName(e: Entry | undefined): string {
  const c = e?.contact ?? e?.brief;
  if (!c) return 'Customer';
  return c.email || c.name || c.phone || 'Anonymous';
}

export const stateLabel: Record<string, string> = {
  bot: 'With bot', waiting: 'Waiting', pending: 'Pending', active: 'Active', ended: 'Ended',
};

export const stars = (n: number): string => '★★★★★'.slice(0, n) + '☆☆☆☆☆'.slice(0, 5 - n);
