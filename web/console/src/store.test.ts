import { describe, expect, it } from 'vitest';
import { Store } from './store';
import type { Conversation, Message, User } from './types';

const me: User = { id: 2, email: 'alice@demo.test', name: 'Alice Agent', role: 'agent', disabled: false, availability: 'available', capacity: 5, max_capacity: 10, load: 0, missed_offers: 0 };

function conv(id: number, over: Partial<Conversation> = {}): Conversation {
  return {
    id, site_id: 1, contact_id: 10 + id, channel: 'widget', status: 'open', priority: 'normal', tags: [], last_seq: 0,
    chat_id: id, chat_state: 'waiting', preview: '', last_message_at: '0001-01-01T00:00:00Z',
    created_at: `2026-11-21T05:00:0${id}Z`, updated_at: `2026-11-21T05:00:0${id}Z`, ...over,
  };
}

function msg(cid: number, seq: number, over: Partial<Message> = {}): Message {
  return {
    id: cid * 100 + seq, conversation_id: cid, seq, author_kind: 'visitor', author_id: 11, kind: 'text', visibility: 'public',
    body: `m${seq}`, created_at: `2026-11-21T05:01:${String(seq).padStart(2, '0')}Z`, ...over,
  };
}

describe('Store timelines', () => {
  it('de-duplicates by seq (replay, echo and ack of the same message)', () => {
    const s = new Store();
    expect(s.addMessage(msg(1, 1))).toBe(true);
    expect(s.addMessage(msg(1, 2))).toBe(true);
    expect(s.addMessage(msg(1, 2))).toBe(false);
    expect(s.addMessages([msg(1, 1), msg(1, 2), msg(1, 3)])).toBe(1);
    expect(s.timeline(1).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('keeps the timeline in seq order whatever the arrival order', () => {
    const s = new Store();
    s.addMessage(msg(1, 3));
    s.addMessage(msg(1, 1));
    s.addMessage(msg(1, 2));
    expect(s.timeline(1).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('resumes from the highest contiguous seq, per conversation', () => {
    const s = new Store();
    expect(s.cursor(1)).toBe(0);
    s.addMessages([msg(1, 1), msg(1, 2), msg(1, 4)]);
    s.addMessages([msg(2, 1)]);
    expect(s.cursor(1)).toBe(2); // 3 is missing: resume from 2 so the server refills it
    expect(s.cursor(2)).toBe(1);
    s.addMessage(msg(1, 3));
    expect(s.cursor(1)).toBe(4);
  });

  it('simulated reconnect: a replay after the cursor shows every message exactly once', () => {
    const s = new Store();
    s.setEpoch('e1');
    s.addMessages([msg(1, 1), msg(1, 2)]);
    // socket drops; meanwhile seq 3 and 4 were written. The server replays
    // after_seq=cursor and a late live event of seq 2 also arrives.
    const after = s.cursor(1);
    expect(after).toBe(2);
    s.addMessage(msg(1, 2));
    s.addMessages([msg(1, 3), msg(1, 4)]);
    expect(s.setEpoch('e1')).toBe(false);
    expect(s.timeline(1).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('drops timelines and cursors when the epoch changes', () => {
    const s = new Store();
    s.setEpoch('e1');
    s.addMessages([msg(1, 1), msg(1, 2)]);
    expect(s.setEpoch('e2')).toBe(true);
    expect(s.cursor(1)).toBe(0);
    expect(s.timeline(1)).toEqual([]);
  });

  it('updates the preview from followed messages, ignoring notes', () => {
    const s = new Store();
    s.upsertConversation(conv(1));
    s.addMessage(msg(1, 1, { body: 'Where is my order?' }));
    s.addMessage(msg(1, 2, { author_kind: 'agent', author_id: 2, kind: 'note', visibility: 'internal', body: 'secret' }));
    expect(s.entries.get(1)!.conv.preview).toBe('Where is my order?');
    expect(s.entries.get(1)!.conv.last_seq).toBe(2);
    // an older conversation event does not roll the preview back
    s.upsertConversation(conv(1, { updated_at: '2026-11-21T05:01:05Z', preview: 'old', last_seq: 1 }));
    expect(s.entries.get(1)!.conv.preview).toBe('Where is my order?');
  });
});

describe('Store unread counts and chips', () => {
  function setup() {
    const s = new Store();
    s.setMe(me);
    s.upsertConversation(conv(1, { chat_state: 'active', assignee_id: 2 }));
    s.applyChat(1, { chat: { id: 1, conversation_id: 1, state: 'active', requested_at: '2026-11-21T05:00:01Z', offered_at: '0001-01-01T00:00:00Z', first_joined_at: '2026-11-21T05:00:02Z', first_response_at: '0001-01-01T00:00:00Z', ended_at: '0001-01-01T00:00:00Z' }, participants: [{ user_id: 2, name: 'Alice Agent', joined_at: '2026-11-21T05:00:02Z' }] });
    s.upsertConversation(conv(2));
    return s;
  }

  it('knows the chats I was in, so my own transfer is not an incoming chat for me', () => {
    const s = setup();
    expect(s.wasIn(1, 1)).toBe(true);
    // I transferred it: I left, the chat is pending for someone else
    s.upsertConversation(conv(1, { chat_state: 'pending', assignee_id: 0 }));
    s.applyChat(1, { chat: { id: 1, conversation_id: 1, state: 'pending', requested_at: '2026-11-21T05:00:01Z', offered_at: '', first_joined_at: '2026-11-21T05:00:02Z', first_response_at: '', ended_at: '' }, participants: [{ user_id: 2, name: 'Alice Agent', joined_at: '2026-11-21T05:00:02Z', left_at: '2026-11-21T05:00:09Z' }] });
    expect(s.wasIn(1, 1)).toBe(true);
    // the customer's next chat in the same conversation is new to me
    expect(s.wasIn(1, 7)).toBe(false);
    // a chat I never joined
    expect(s.wasIn(2, 2)).toBe(false);
  });

  it('counts customer messages after my read mark only', () => {
    const s = setup();
    s.addMessages([msg(1, 1, { author_kind: 'system', kind: 'event' }), msg(1, 2), msg(1, 3)]);
    expect(s.unread(1)).toBe(2);
    s.addMessage(msg(1, 3)); // duplicate does not count twice
    expect(s.unread(1)).toBe(2);
    expect(s.markRead(1, 2)).toBe(true);
    expect(s.unread(1)).toBe(1);
    expect(s.markRead(1, 1)).toBe(false); // never backwards
    expect(s.unread(1)).toBe(1);
  });

  it('my own message marks everything before it read', () => {
    const s = setup();
    s.addMessages([msg(1, 1), msg(1, 2)]);
    s.addMessage(msg(1, 3, { author_kind: 'agent', author_id: 2 }));
    expect(s.unread(1)).toBe(0);
  });

  it('read events of mine move the mark; the visitor mark is kept apart', () => {
    const s = setup();
    s.addMessages([msg(1, 1), msg(1, 2)]);
    s.applyRead({ conversation_id: 1, reader_kind: 'visitor', reader_id: 11, seq: 2, at: '' });
    expect(s.unread(1)).toBe(2);
    expect(s.visitorReadSeq(1)).toBe(2);
    s.applyRead({ conversation_id: 1, reader_kind: 'agent', reader_id: 2, seq: 2, at: '' });
    expect(s.unread(1)).toBe(0);
    s.applyRead({ conversation_id: 1, reader_kind: 'agent', reader_id: 3, seq: 1, at: '' }); // a colleague
    expect(s.readSeq(1)).toBe(2);
  });

  it('chips: red incoming, green mine, orange unread; total only over my chats', () => {
    const s = setup();
    expect(s.chips()).toEqual([{ id: 1, kind: 'mine' }, { id: 2, kind: 'incoming' }]);
    s.addMessage(msg(1, 1));
    s.addMessage(msg(2, 1));
    expect(s.chips()[0]).toEqual({ id: 1, kind: 'unread' });
    expect(s.totalUnread()).toBe(1);
    s.upsertConversation(conv(2, { chat_state: 'ended', status: 'closed', updated_at: '2026-11-21T06:00:00Z' }));
    expect(s.chips().map((c) => c.id)).toEqual([1]);
  });

  it('active chats need a live chat and the customer online', () => {
    const s = setup();
    expect(s.activeChats()).toEqual([]);
    const p = { visitor_session_id: 5, site_id: 1, contact_id: 12, online: true, url: 'https://shop.example/cart', title: 'Cart', visible: true, minimized: false, last_seen: '2026-11-21T05:00:00Z' };
    s.applyPresence(p);
    expect(s.activeChats().map((e) => e.conv.id)).toEqual([2]);
    expect(s.presenceOf(12)?.url).toBe('https://shop.example/cart');
    s.applyPresence({ ...p, online: false, last_seen: '2026-11-21T05:01:00Z' });
    expect(s.activeChats()).toEqual([]);
  });

  it('active chats leave out chats still with the assistant until the hand-off', () => {
    const s = setup();
    const p = { visitor_session_id: 5, site_id: 1, contact_id: 12, online: true, url: '', title: '', visible: true, minimized: false, last_seen: '2026-11-21T05:00:00Z' };
    s.applyPresence(p);
    s.upsertConversation(conv(2, { chat_state: 'bot', status: 'closed', updated_at: '2026-11-21T05:30:00Z' }));
    expect(s.activeChats()).toEqual([]);
    s.upsertConversation(conv(2, { chat_state: 'waiting', status: 'open', updated_at: '2026-11-21T05:31:00Z' }));
    expect(s.activeChats().map((e) => e.conv.id)).toEqual([2]);
  });

  it('list rows carry the contact and online; presence events then take over', () => {
    const s = new Store();
    s.setMe(me);
    s.upsertConversation({ ...conv(3, { chat_state: 'active', assignee_id: 9 }), contact: { id: 13, name: 'Vera', email: 'vera@example.com' }, online: true });
    const e = s.entries.get(3)!;
    expect(e.brief?.email).toBe('vera@example.com');
    expect('contact' in e.conv).toBe(false);
    expect(s.activeChats().map((x) => x.conv.id)).toEqual([3]);
    // a later conversation event (no contact) keeps the brief
    s.upsertConversation(conv(3, { chat_state: 'active', updated_at: '2026-11-21T06:00:00Z' }));
    expect(s.entries.get(3)!.brief?.name).toBe('Vera');
    const p = { visitor_session_id: 7, site_id: 1, contact_id: 13, online: false, url: '', title: '', visible: false, minimized: false, last_seen: '2026-11-21T06:01:00Z' };
    s.applyPresence(p);
    expect(s.activeChats()).toEqual([]);
    s.applyPresence({ ...p, online: true, last_seen: '2026-11-21T06:02:00Z' });
    expect(s.activeChats().map((x) => x.conv.id)).toEqual([3]);
  });

  it('names colleagues from the staff list and keeps availability current', () => {
    const s = new Store();
    s.setMe(me);
    expect(s.nameOf(9)).toBe('Another agent');
    expect(s.knows(9)).toBe(false);
    s.setStaff([{ id: 9, name: 'Bob Agent', role: 'agent', availability: 'offline', capacity: 3 }]);
    expect(s.nameOf(9)).toBe('Bob Agent');
    expect(s.nameOf(2)).toBe('You');
    expect(s.nameOf(undefined)).toBe('Unassigned');
    s.applyAvailability(9, 'Bob Agent', 'available');
    expect(s.staff.get(9)!.availability).toBe('available');
    s.applyAvailability(2, 'Alice Agent', 'busy');
    expect(s.me!.availability).toBe('busy');
  });

  it('a chat event carries the rating', () => {
    const s = new Store();
    s.upsertConversation(conv(4, { chat_state: 'ended', status: 'closed' }));
    expect(s.ratingOf(4)).toBe(null);
    s.applyChat(4, { chat: { id: 4, conversation_id: 4, state: 'ended', requested_at: '', offered_at: '', first_joined_at: '', first_response_at: '', ended_at: '', rating: 4, rating_comment: 'Quick' }, participants: [] });
    expect(s.ratingOf(4)).toEqual({ score: 4, comment: 'Quick' });
  });

  it('typing indicator expires by itself and clears on a customer message', () => {
    let now = 1000;
    const s = new Store(() => now);
    s.applyTyping(1, { party: 'visitor', name: 'Vera', typing: true });
    expect(s.visitorTyping(1)).toBe('Vera');
    now += 7000;
    expect(s.visitorTyping(1)).toBe(null);
    s.applyTyping(1, { party: 'visitor', name: 'Vera', typing: true });
    s.addMessage(msg(1, 1));
    expect(s.visitorTyping(1)).toBe(null);
  });
});

describe('Store offers', () => {
  const chatView = (id: number, state: 'pending' | 'active' | 'ended', participants: { user_id: number; left_at?: string }[] = []) => ({
    chat: { id, conversation_id: id, state, requested_at: '2026-11-21T05:00:01Z', offered_at: '', first_joined_at: '', first_response_at: '', ended_at: '' },
    participants: participants.map((p) => ({ name: 'x', joined_at: '2026-11-21T05:00:02Z', ...p })),
  });
  const offer = (chat: number, over: Partial<import('./types').Offer> = {}) => ({
    chat_id: chat, user_id: 2, kind: 'route' as const, state: 'pending' as const, exclusive: true, offered_at: `2026-11-21T05:00:0${chat}Z`, ...over,
  });

  function setup(now = () => Date.parse('2026-11-21T05:00:10Z')) {
    const s = new Store(now);
    s.setMe(me);
    return s;
  }

  it('keeps a pending offer to me until it resolves', () => {
    const s = setup();
    expect(s.applyOffer({ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) })).toBe(null);
    expect(s.entries.get(1)!.conv.chat_state).toBe('pending'); // the event's conversation is applied
    expect(s.pendingOffers().map((p) => p.entry.conv.id)).toEqual([1]);
    expect(s.offerFor(1)?.kind).toBe('route');
    expect(s.myLoad()).toBe(1);
    s.applyOffer({ offer: { chat_id: 1, user_id: 2, state: 'withdrawn' }, conversation: conv(1, { chat_state: 'pending', updated_at: '2026-11-21T05:00:09Z' }) });
    expect(s.pendingOffers()).toEqual([]);
    expect(s.myLoad()).toBe(0);
  });

  it('drops a routed offer once the chat is active or ended, and an expired one', () => {
    const s = setup();
    s.applyOffer({ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) });
    s.applyOffer({ offer: offer(2, { expires_at: '2026-11-21T05:00:09Z' }), conversation: conv(2, { chat_state: 'pending' }) });
    s.applyOffer({ offer: offer(3, { expires_at: '2026-11-21T05:00:40Z' }), conversation: conv(3, { chat_state: 'pending' }) });
    expect(s.pendingOffers().map((p) => p.entry.conv.id)).toEqual([1, 3]);
    s.upsertConversation(conv(1, { chat_state: 'active', assignee_id: 9, updated_at: '2026-11-21T06:00:00Z' }));
    s.upsertConversation(conv(3, { chat_state: 'ended', updated_at: '2026-11-21T06:00:00Z' }));
    expect(s.pendingOffers()).toEqual([]);
  });

  it('an invitation into an active chat stays until I am in it', () => {
    const s = setup();
    s.applyOffer({ offer: offer(4, { kind: 'invite', from_user_id: 9 }), conversation: conv(4, { chat_state: 'active', assignee_id: 9 }) });
    s.applyChat(4, chatView(4, 'active', [{ user_id: 9 }]));
    expect(s.pendingOffers().map((p) => p.offer.kind)).toEqual(['invite']);
    s.applyChat(4, chatView(4, 'active', [{ user_id: 9 }, { user_id: 2 }]));
    expect(s.pendingOffers()).toEqual([]);
  });

  it('an offer of an older chat of the conversation does not show', () => {
    const s = setup();
    s.applyOffer({ offer: offer(5), conversation: conv(5, { chat_state: 'pending', chat_id: 6 }) });
    expect(s.pendingOffers()).toEqual([]);
  });

  it('dropOffer forgets it (answered here); answers to my invitations are returned', () => {
    const s = setup();
    s.applyOffer({ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) });
    s.dropOffer(1);
    expect(s.pendingOffers()).toEqual([]);
    const answer = s.applyOffer({ offer: offer(7, { user_id: 9, kind: 'invite', from_user_id: 2, state: 'declined' }), conversation: conv(7, { chat_state: 'active' }) });
    expect(answer?.state).toBe('declined');
    expect(s.pendingOffers()).toEqual([]);
  });

  it('GET /me/offers replaces the pending set; events since it was sent apply on top', () => {
    const s = setup();
    s.applyOffer({ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) }); // resolved while disconnected
    const t = s.beginOfferSync();
    // while the fetch is on its way: offer 2 is withdrawn, offer 4 arrives
    s.applyOffer({ offer: { chat_id: 2, user_id: 2, state: 'withdrawn' }, conversation: conv(2, { chat_state: 'waiting' }) });
    s.applyOffer({ offer: offer(4), conversation: conv(4, { chat_state: 'pending' }) });
    // the reply was read before the withdrawal: it still lists offer 2
    const added = s.setOffers(t, [
      { offer: offer(2), conversation: conv(2, { chat_state: 'pending' }) },
      { offer: offer(3, { kind: 'transfer', from_user_id: 9 }), conversation: conv(3, { chat_state: 'active', assignee_id: 9 }) },
    ]);
    expect(s.pendingOffers().map((p) => p.entry.conv.id)).toEqual([3, 4]);
    expect(added).toEqual([3]);
    expect(s.entries.get(3)!.conv.assignee_id).toBe(9); // the reply's conversations are applied
    // later events apply as usual
    s.applyOffer({ offer: { chat_id: 3, user_id: 2, state: 'withdrawn' }, conversation: conv(3, { chat_state: 'active', assignee_id: 9 }) });
    expect(s.pendingOffers().map((p) => p.entry.conv.id)).toEqual([4]);
  });

  it('a superseded GET /me/offers reply is ignored; an offer answered here does not come back', () => {
    const s = setup();
    const t1 = s.beginOfferSync();
    const t2 = s.beginOfferSync();
    expect(s.setOffers(t1, [{ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) }])).toBe(null);
    expect(s.pendingOffers()).toEqual([]);
    s.upsertConversation(conv(2, { chat_state: 'pending' }));
    s.dropOffer(2); // declined here while the fetch was on its way
    expect(s.setOffers(t2, [{ offer: offer(2), conversation: conv(2, { chat_state: 'pending' }) }])).toEqual([]);
    expect(s.pendingOffers()).toEqual([]);
    // a failed fetch: events apply as they come, a late reply is ignored
    const t3 = s.beginOfferSync();
    s.endOfferSync(t3);
    expect(s.setOffers(t3, [{ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) }])).toBe(null);
    // after sign-out a reply on its way is for the previous session
    const t4 = s.beginOfferSync();
    s.clearOffers();
    expect(s.setOffers(t4, [{ offer: offer(1), conversation: conv(1, { chat_state: 'pending' }) }])).toBe(null);
    expect(s.pendingOffers()).toEqual([]);
  });
});

describe('Store mentions', () => {
  it('marks a conversation until I read past the note that mentioned me', () => {
    const s = new Store();
    s.setMe(me);
    expect(s.mentioned(1)).toBe(false);
    s.addMention(1, 4);
    s.addMention(1, 3); // an older one changes nothing
    expect(s.mentioned(1)).toBe(true);
    expect(s.mentionCount()).toBe(1);
    s.markRead(1, 3);
    expect(s.mentioned(1)).toBe(true);
    s.applyRead({ conversation_id: 1, reader_kind: 'agent', reader_id: me.id, seq: 4, at: '' }); // read in another tab
    expect(s.mentioned(1)).toBe(false);
    s.addMention(1, 9);
    expect(s.mentionCount()).toBe(1);
    s.clearMentions();
    expect(s.mentioned(1)).toBe(false);
  });
});
