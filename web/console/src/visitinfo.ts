// Pure helpers of the customer sidebar's visit history (visits.tsx), unit
// tested in visitinfo.test.ts.

import type { PageView } from './types';

export interface VisitGroup {
  visit: number;
  views: PageView[]; // newest first
}

// groupVisits splits page views (newest first) into visits, newest first.
export function groupVisits(views: PageView[]): VisitGroup[] {
  const out: VisitGroup[] = [];
  for (const v of views) {
    const last = out[out.length - 1];
    if (last && last.visit === v.visit) last.views.push(v);
    else out.push({ visit: v.visit, views: [v] });
  }
  return out;
}

// localTime is the time now in the visitor's time zone ("14:05"), with the
// offset from the agent's own clock ("+9 h"), or null when the zone is
// unknown or this browser does not know it.
export function localTime(tz: string, now = new Date(), agentTz?: string): { time: string; offset: string } | null {
  if (!tz) return null;
  try {
    const time = new Intl.DateTimeFormat([], { timeZone: tz, hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(now);
    const mins = (zone?: string) => {
      const p = Object.fromEntries(
        new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' })
          .formatToParts(now).map((x) => [x.type, x.value]),
      );
      return Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!) / 60000;
    };
    const d = mins(tz) - mins(agentTz);
    if (d === 0) return { time, offset: 'same as you' };
    const h = Math.trunc(Math.abs(d) / 60);
    const m = Math.abs(d) % 60;
    return { time, offset: (d > 0 ? '+' : '−') + (h ? `${h} h` : '') + (h && m ? ' ' : '') + (m ? `${m} min` : '') + ' from you' };
  } catch {
    return null;
  }
}

// place names a country code ("NZ" → "New Zealand") with the city first.
export function place(country: string, city: string): string {
  let name = country;
  if (country) {
    try {
      name = new Intl.DisplayNames([], { type: 'region' }).of(country) || country;
    } catch {
      /* an unknown code: shown as is */
    }
  }
  return [city, name].filter(Boolean).join(', ');
}

// pageLabel is what a page view is called: its title, else its path.
export function pageLabel(v: { url: string; title: string }): string {
  if (v.title.trim()) return v.title.trim();
  try {
    const u = new URL(v.url);
    return u.host + (u.pathname === '/' ? '' : u.pathname);
  } catch {
    return v.url || '(unknown page)';
  }
}
