// The Tickets view's lists, pure (no DOM, no network) so they are unit
// tested. A tab is one or more list requests ("streams": GET /conversations
// takes one status at a time), each paged with its own next_cursor, merged
// in the server's order (last activity first, then id) and then filtered by
// what the tab means, because the server cannot say "not live".

import type { Conversation } from './types';

export type Tab = 'unassigned' | 'assigned' | 'closed';
export const TABS: Tab[] = ['unassigned', 'assigned', 'closed'];
export const PAGE = 50;

export type Params = Record<string, string | number | undefined>;
export interface ListPage {
  conversations: Conversation[];
  next_cursor: string;
}

const LIVE = new Set(['bot', 'waiting', 'pending', 'active']);
export const isLiveConv = (c: Conversation): boolean => !!c.chat_state && LIVE.has(c.chat_state);

// queries are the list requests that together make up a tab.
export function queries(tab: Tab, mine: boolean, q: string): Params[] {
  const base: Params = { q: q.trim() || undefined, limit: PAGE };
  switch (tab) {
    case 'unassigned':
      return ['open', 'pending'].map((status) => ({ ...base, status, assignee: 'none' }));
    case 'assigned':
      return ['open', 'pending'].map((status) => ({ ...base, status, assignee: mine ? 'me' : undefined }));
    case 'closed':
      return [{ ...base, status: 'closed' }];
  }
}

// belongs says whether a conversation, as it is now, is in the tab:
// Unassigned is open or pending, nobody's, and not a live chat (those are in
// the queue); Assigned is someone's (mine only: mine) and not closed;
// Closed is closed.
export function belongs(tab: Tab, mine: boolean, me: number, c: Conversation): boolean {
  switch (tab) {
    case 'unassigned':
      return c.status !== 'closed' && !c.assignee_id && !isLiveConv(c);
    case 'assigned':
      return c.status !== 'closed' && !!c.assignee_id && (!mine || c.assignee_id === me);
    case 'closed':
      return c.status === 'closed';
  }
}

export interface Key {
  at: string;
  id: number;
}
export const keyOf = (c: Conversation): Key => ({ at: c.updated_at, id: c.id });
// before: a comes before b in the list (newer activity, then higher id).
export const before = (a: Key, b: Key): boolean => a.at > b.at || (a.at === b.at && a.id > b.id);

interface Stream {
  params: Params;
  started: boolean;
  cursor: string;
  last: Key | null; // the last row of the last page fetched
}

// Pager merges the streams of a tab. The merged list is complete down to
// the cutoff: the newest "last row" among streams with pages still to come
// (a row older than it may yet be preceded by rows those pages hold).
export class Pager {
  private streams: Stream[];
  readonly ids = new Set<number>();

  constructor(params: Params[]) {
    this.streams = params.map((p) => ({ params: p, started: false, cursor: '', last: null }));
  }

  // more: some stream has pages still to fetch.
  get more(): boolean {
    return this.streams.some((s) => !s.started || !!s.cursor);
  }

  get started(): boolean {
    return this.streams.every((s) => s.started);
  }

  cutoff(): Key | null {
    let cut: Key | null = null;
    for (const s of this.streams) {
      if (s.started && !s.cursor) continue;
      if (!s.started || !s.last) return { at: '\uffff', id: Infinity }; // nothing is known yet
      if (!cut || before(s.last, cut)) cut = s.last;
    }
    return cut;
  }

  // next fetches the next page of every stream that has one.
  async next(fetch: (p: Params) => Promise<ListPage>): Promise<void> {
    const due = this.streams.filter((s) => !s.started || s.cursor);
    const pages = await Promise.all(due.map((s) => fetch({ ...s.params, cursor: s.cursor || undefined })));
    due.forEach((s, i) => {
      const page = pages[i];
      s.started = true;
      s.cursor = page.next_cursor;
      const rows = page.conversations;
      if (rows.length) s.last = keyOf(rows[rows.length - 1]);
      for (const c of rows) this.ids.add(c.id);
    });
  }

  // rows picks the conversations in the tab, newest first, down to the cutoff.
  rows(candidates: Iterable<Conversation>, inTab: (c: Conversation) => boolean): Conversation[] {
    const cut = this.cutoff();
    const out: Conversation[] = [];
    const seen = new Set<number>();
    for (const c of candidates) {
      if (seen.has(c.id) || !inTab(c)) continue;
      seen.add(c.id);
      if (cut && before(cut, keyOf(c))) continue; // not known to be in order yet
      out.push(c);
    }
    return out.sort((a, b) => (before(keyOf(a), keyOf(b)) ? -1 : 1));
  }
}

export interface Group {
  assignee: number; // 0: nobody
  name: string;
  rows: Conversation[];
}

// groupByAssignee groups rows (kept in order) by assignee, groups by name
// with the unassigned last.
export function groupByAssignee(rows: Conversation[], nameOf: (id: number) => string): Group[] {
  const m = new Map<number, Group>();
  for (const c of rows) {
    const id = c.assignee_id ?? 0;
    let g = m.get(id);
    if (!g) m.set(id, (g = { assignee: id, name: id ? nameOf(id) : 'Unassigned', rows: [] }));
    g.rows.push(c);
  }
  return [...m.values()].sort((a, b) => (!a.assignee ? 1 : !b.assignee ? -1 : a.name.localeCompare(b.name) || a.assignee - b.assignee));
}

// queryError checks a search before it is sent (the server takes 200 bytes).
export function queryError(q: string): string {
  return new TextEncoder().encode(q.trim()).length > 200 ? 'The search is too long: use at most 200 characters.' : '';
}

// tabOf reads the tab from a route ("tickets", "tickets/closed"); null when
// the route is not a tickets list.
export function tabOf(route: string): Tab | null {
  if (route === 'tickets') return 'unassigned';
  const m = /^tickets\/(unassigned|assigned|closed)$/.exec(route);
  return m ? (m[1] as Tab) : null;
}
