import { describe, expect, it } from 'vitest';
import { belongs, groupByAssignee, Pager, queries, queryError, tabOf, type ListPage, type Params } from './ticketlist';
import type { Conversation } from './types';

function conv(id: number, at: number, over: Partial<Conversation> = {}): Conversation {
  return {
    id, site_id: 1, contact_id: 100 + id, channel: 'widget', status: 'open', priority: 'normal', tags: [], last_seq: 1,
    preview: '', last_message_at: '', created_at: '2026-11-21T05:00:00Z',
    updated_at: `2026-11-21T05:${String(at).padStart(2, '0')}:00Z`, ...over,
  };
}

// a fake server: each status's rows newest first, paged by `size`
function server(rows: Conversation[], size: number) {
  const calls: Params[] = [];
  const fetch = async (p: Params): Promise<ListPage> => {
    calls.push(p);
    const all = rows.filter((c) => c.status === p.status).sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : b.id - a.id));
    const from = p.cursor ? Number(p.cursor) : 0;
    const page = all.slice(from, from + size);
    return { conversations: page, next_cursor: from + size < all.length ? String(from + size) : '' };
  };
  return { fetch, calls };
}

describe('ticket tabs', () => {
  it('asks for open and pending separately, with the search in each', () => {
    expect(queries('unassigned', false, ' parcel ')).toEqual([
      { q: 'parcel', limit: 50, status: 'open', assignee: 'none' },
      { q: 'parcel', limit: 50, status: 'pending', assignee: 'none' },
    ]);
    expect(queries('assigned', true, '').map((p) => p.assignee)).toEqual(['me', 'me']);
    expect(queries('assigned', false, '').map((p) => p.assignee)).toEqual([undefined, undefined]);
    expect(queries('closed', false, 'x')).toEqual([{ q: 'x', limit: 50, status: 'closed' }]);
  });

  it('keeps live chats out of Unassigned and closed tickets out of Assigned', () => {
    expect(belongs('unassigned', false, 2, conv(1, 1))).toBe(true);
    expect(belongs('unassigned', false, 2, conv(1, 1, { status: 'pending' }))).toBe(true);
    expect(belongs('unassigned', false, 2, conv(1, 1, { chat_state: 'waiting', chat_id: 5 }))).toBe(false);
    expect(belongs('unassigned', false, 2, conv(1, 1, { chat_state: 'ended', chat_id: 5 }))).toBe(true);
    expect(belongs('unassigned', false, 2, conv(1, 1, { assignee_id: 2 }))).toBe(false);
    expect(belongs('assigned', false, 2, conv(1, 1, { assignee_id: 3 }))).toBe(true);
    expect(belongs('assigned', true, 2, conv(1, 1, { assignee_id: 3 }))).toBe(false);
    expect(belongs('assigned', true, 2, conv(1, 1, { assignee_id: 2, status: 'closed' }))).toBe(false);
    expect(belongs('closed', false, 2, conv(1, 1, { status: 'closed' }))).toBe(true);
  });

  it('reads the tab from the route', () => {
    expect(tabOf('tickets')).toBe('unassigned');
    expect(tabOf('tickets/closed')).toBe('closed');
    expect(tabOf('tickets/nope')).toBe(null);
    expect(tabOf('inbox')).toBe(null);
  });

  it('refuses a search over 200 bytes before sending it', () => {
    expect(queryError('a'.repeat(200))).toBe('');
    expect(queryError('é'.repeat(101))).not.toBe('');
  });
});

describe('Pager', () => {
  it('merges two paged streams in order and never shows a row out of order', async () => {
    // open rows are all newer than the pending ones except one
    const rows = [
      conv(1, 50), conv(2, 49), conv(3, 48), conv(4, 47),
      conv(5, 30, { status: 'pending' }), conv(6, 48, { status: 'pending' }), conv(7, 10, { status: 'pending' }),
      conv(8, 5, { status: 'pending' }), conv(10, 3, { status: 'pending' }),
    ];
    const s = server(rows, 2);
    const p = new Pager(queries('unassigned', false, ''));
    const all = () => p.rows(rows, (c) => belongs('unassigned', false, 2, c)).map((c) => c.id);
    expect(all()).toEqual([]); // nothing loaded: nothing shown
    await p.next(s.fetch);
    // open page: 1, 2 (more); pending page: 6, 5 (more). Shown down to the
    // newer of the two frontiers (2 at :49): 1, 2 — not 6, which an open
    // row (3 at :48) may precede
    expect(all()).toEqual([1, 2]);
    expect(p.more).toBe(true);
    await p.next(s.fetch);
    // open is done; pending's frontier is 8
    expect(all()).toEqual([1, 2, 6, 3, 4, 5, 7, 8]);
    expect(p.more).toBe(true);
    await p.next(s.fetch);
    expect(p.more).toBe(false);
    expect(all()).toEqual([1, 2, 6, 3, 4, 5, 7, 8, 10]);
    expect(s.calls.map((c) => `${c.status}:${c.cursor ?? ''}`)).toEqual(['open:', 'pending:', 'open:2', 'pending:2', 'pending:4']);
  });

  it('drops rows that no longer belong and shows newer ones from events', async () => {
    const rows = [conv(1, 50), conv(2, 40)];
    const s = server(rows, 50);
    const p = new Pager(queries('unassigned', false, ''));
    await p.next(s.fetch);
    const inTab = (c: Conversation) => belongs('unassigned', false, 2, c);
    // someone assigns 1; a new ticket 9 arrives by event
    const now = [conv(1, 55, { assignee_id: 3 }), conv(2, 40), conv(9, 56)];
    expect(p.rows(now, inTab).map((c) => c.id)).toEqual([9, 2]);
  });

  it('groups closed tickets by agent, the unassigned last', () => {
    const names: Record<number, string> = { 2: 'Alice Agent', 3: 'Bob Agent' };
    const g = groupByAssignee([conv(1, 9, { assignee_id: 3 }), conv(2, 8), conv(3, 7, { assignee_id: 2 }), conv(4, 6, { assignee_id: 3 })], (id) => names[id]);
    expect(g.map((x) => [x.name, x.rows.map((c) => c.id)])).toEqual([
      ['Alice Agent', [3]],
      ['Bob Agent', [1, 4]],
      ['Unassigned', [2]],
    ]);
  });
});
