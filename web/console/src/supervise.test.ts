import { describe, expect, it } from 'vitest';
import type { Entry } from './store';
import { agentOf, groupLive, waitingSince } from './supervise';
import type { ChatState, Conversation, Message } from './types';

function entry(id: number, state: ChatState | undefined, over: Partial<Conversation> = {}, participants: { user_id: number; left?: boolean }[] = []): Entry {
  const conv: Conversation = {
    id, site_id: 1, contact_id: 10 + id, channel: 'widget', status: 'open', priority: 'normal', tags: [], last_seq: 0,
    chat_id: state ? id : undefined, chat_state: state, preview: '', last_message_at: '0001-01-01T00:00:00Z',
    created_at: `2026-11-21T05:00:${String(id).padStart(2, '0')}Z`, updated_at: `2026-11-21T05:00:${String(id).padStart(2, '0')}Z`, ...over,
  };
  return {
    conv,
    detail: false,
    chat: state ? {
      chat: { id, conversation_id: id, state, requested_at: conv.created_at, offered_at: '', first_joined_at: '', first_response_at: '', ended_at: '' },
      participants: participants.map((p) => ({ user_id: p.user_id, name: 'x', joined_at: conv.created_at, left_at: p.left ? conv.created_at : undefined })),
    } : undefined,
  };
}

const names: Record<number, string> = { 2: 'Alice Agent', 3: 'Bob Agent' };
const nameOf = (id: number) => names[id] ?? 'Another agent';

describe('groupLive', () => {
  it('groups live chats by agent, waiting/unassigned first, agents by name, oldest chat first', () => {
    const es = [
      entry(5, 'active', { assignee_id: 3 }),
      entry(1, 'active', { assignee_id: 3 }),
      entry(4, 'waiting'),
      entry(2, 'pending'),
      entry(3, 'active', { assignee_id: 2 }),
      entry(6, 'bot'),
      entry(7, 'ended', { assignee_id: 2 }), // not live
      entry(8, undefined), // an offline message: no chat
    ];
    const gs = groupLive(es, nameOf);
    expect(gs.map((g) => [g.agentId, g.name, g.rows.map((e) => e.conv.id)])).toEqual([
      [0, 'Waiting / unassigned', [2, 4, 6]],
      [2, 'Alice Agent', [3]],
      [3, 'Bob Agent', [1, 5]],
    ]);
  });

  it('an active chat without an assignee goes to its agent still in it', () => {
    expect(agentOf(entry(1, 'active', {}, [{ user_id: 2, left: true }, { user_id: 3 }]))).toBe(3);
    expect(agentOf(entry(1, 'active', {}, [{ user_id: 2, left: true }]))).toBe(0);
    expect(agentOf(entry(1, 'pending', { assignee_id: 2 }))).toBe(0);
  });

  it('no live chats, no groups; a chat moving on moves group', () => {
    expect(groupLive([entry(1, 'ended')], nameOf)).toEqual([]);
    const e = entry(1, 'waiting');
    expect(groupLive([e], nameOf)[0].agentId).toBe(0);
    e.conv = { ...e.conv, chat_state: 'active', assignee_id: 2 };
    expect(groupLive([e], nameOf).map((g) => g.name)).toEqual(['Alice Agent']);
  });
});

function msg(seq: number, author: Message['author_kind'], over: Partial<Message> = {}): Message {
  return { id: seq, conversation_id: 1, seq, author_kind: author, kind: 'text', visibility: 'public', body: 'm', created_at: `2026-11-21T05:10:${String(seq).padStart(2, '0')}Z`, ...over };
}

describe('waitingSince', () => {
  it('a chat nobody took: since it was asked for', () => {
    expect(waitingSince(entry(3, 'waiting'), [])).toBe('2026-11-21T05:00:03Z');
  });
  it('an active chat: since the first customer message after the last answer', () => {
    const e = entry(1, 'active', { assignee_id: 2 });
    expect(waitingSince(e, [])).toBeNull();
    expect(waitingSince(e, [msg(1, 'visitor'), msg(2, 'agent'), msg(3, 'visitor'), msg(4, 'visitor')])).toBe('2026-11-21T05:10:03Z');
    // notes and system lines are no answer
    expect(waitingSince(e, [msg(1, 'visitor'), msg(2, 'agent', { kind: 'note', visibility: 'internal' }), msg(3, 'system', { kind: 'event' })])).toBe('2026-11-21T05:10:01Z');
    expect(waitingSince(e, [msg(1, 'visitor'), msg(2, 'agent')])).toBeNull();
    expect(waitingSince(entry(1, 'ended'), [msg(1, 'visitor')])).toBeNull();
  });
});
