// The Supervise view's model: every live chat, grouped by the agent who has
// it, with the chats nobody has yet ("Waiting / unassigned") first, and how
// long each customer has been waiting for an answer. Pure (no DOM, no
// network) so it is unit tested.

import { isSet, type Entry } from './store';
import type { Message } from './types';

const LIVE = new Set(['bot', 'waiting', 'pending', 'active']);

export interface SuperviseGroup {
  agentId: number; // 0: waiting / unassigned
  name: string;
  rows: Entry[];
}

// startedAt: when the customer asked for the chat.
export function startedAt(e: Entry): string {
  const r = e.chat?.chat.requested_at;
  return isSet(r) ? r! : e.conv.created_at;
}

// agentOf is the agent a live chat is with: the assignee of an active chat,
// else its first agent still in it; 0 for a chat nobody has taken.
export function agentOf(e: Entry): number {
  if (e.conv.chat_state !== 'active') return 0;
  if (e.conv.assignee_id) return e.conv.assignee_id;
  const p = (e.chat?.participants ?? []).find((x) => !isSet(x.left_at));
  return p?.user_id ?? 0;
}

const byStart = (a: Entry, b: Entry): number => {
  const x = startedAt(a), y = startedAt(b);
  return x < y ? -1 : x > y ? 1 : a.conv.id - b.conv.id;
};

// groupLive groups the live chats among the entries: "Waiting / unassigned"
// first (when there is any), then each agent by name; in a group the chat
// asked for first comes first.
export function groupLive(entries: Iterable<Entry>, nameOf: (userId: number) => string): SuperviseGroup[] {
  const groups = new Map<number, SuperviseGroup>();
  for (const e of entries) {
    if (!e.conv.chat_state || !LIVE.has(e.conv.chat_state)) continue;
    const id = agentOf(e);
    let g = groups.get(id);
    if (!g) {
      g = { agentId: id, name: id ? nameOf(id) : 'Waiting / unassigned', rows: [] };
      groups.set(id, g);
    }
    g.rows.push(e);
  }
  for (const g of groups.values()) g.rows.sort(byStart);
  return [...groups.values()].sort((a, b) => (a.agentId === 0 ? -1 : b.agentId === 0 ? 1 : a.name.localeCompare(b.name) || a.agentId - b.agentId));
}

// waitingSince says since when the customer has been waiting for an answer:
// a chat nobody took, since it was asked for; an active chat, since the
// first customer message after the last answer (null: answered, or the
// timeline is not known yet).
export function waitingSince(e: Entry, timeline: readonly Message[]): string | null {
  const s = e.conv.chat_state;
  if (s === 'waiting' || s === 'pending' || s === 'bot') return startedAt(e);
  if (s !== 'active') return null;
  let since: string | null = null;
  for (const m of timeline) {
    if (m.visibility !== 'public' || m.kind !== 'text') continue;
    if (m.author_kind === 'visitor') since ??= m.created_at;
    else since = null; // answered
  }
  return since;
}
