// The console's client state: conversations, timelines indexed by seq,
// per-conversation resume cursors, read marks, unread counts, visitor
// presence and typing. Pure (no DOM, no network) so it is unit tested.

import type {
  Availability, ChatView, Contact, ContactBrief, Conversation, ConversationView, Message, Offer, OfferEvent, Presence, ReadMark, StaffMember, TypingEvent, User,
} from './types';

export interface Entry {
  conv: Conversation;
  chat?: ChatView;
  contact?: Contact;
  brief?: ContactBrief; // from a list row, until the detail's contact is known
  detail: boolean; // the REST detail was loaded (contact, chat, read marks)
}

export const isSet = (t: string | undefined): boolean => !!t && !t.startsWith('0001-');

interface MyOffer {
  offer: Offer;
  convId: number;
}

// A chat offered to me, as the incoming-offer card shows it.
export interface PendingOffer {
  offer: Offer;
  entry: Entry;
}

export class Store {
  epoch = '';
  me: User | null = null;
  entries = new Map<number, Entry>();
  private timelines = new Map<number, Map<number, Message>>();
  private cursors = new Map<number, number>();
  private myRead = new Map<number, number>();
  private visitorRead = new Map<number, number>();
  private sessions = new Map<number, Presence>(); // by visitor_session_id
  private typingUntil = new Map<number, { name: string; until: number }>();
  staffNames = new Map<number, string>();
  staff = new Map<number, StaffMember>(); // colleagues (GET /staff, availability events)
  // whether a contact is on the site, from whichever came last: a list row's
  // `online` or a live presence event
  private contactOnline = new Map<number, boolean>();
  // chats offered to me and not answered yet (offer events), by chat id
  private offers = new Map<number, MyOffer>();
  // GET /me/offers in flight: its ticket, and what happened to my offers
  // since it was sent, by chat id (null: no fetch in flight)
  private offerTicket = 0;
  private offerLog: [number, MyOffer | null][] | null = null;
  // the latest note that @-mentioned me, by conversation (mention events)
  private mentionSeqs = new Map<number, number>();
  private listeners = new Set<() => void>();
  version = 0;

  constructor(private now: () => number = () => Date.now()) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  setMe(u: User): void {
    this.me = u;
    this.staffNames.set(u.id, u.name);
    this.changed();
  }

  setStaff(list: StaffMember[]): void {
    for (const m of list) {
      this.staff.set(m.id, m);
      this.staffNames.set(m.id, m.name);
    }
    this.changed();
  }

  applyAvailability(userId: number, name: string, availability: Availability): void {
    if (name) this.staffNames.set(userId, name);
    const m = this.staff.get(userId);
    if (m) this.staff.set(userId, { ...m, name: name || m.name, availability });
    if (this.me && userId === this.me.id) this.me = { ...this.me, availability };
    this.changed();
  }

  // setEpoch records the store epoch from `hello`. A different epoch than the
  // one our cursors belong to means the database was replaced: drop every
  // timeline and cursor. Returns true when state was dropped.
  setEpoch(epoch: string): boolean {
    const dropped = this.epoch !== '' && this.epoch !== epoch;
    if (dropped) {
      this.timelines.clear();
      this.cursors.clear();
    }
    this.epoch = epoch;
    this.changed();
    return dropped;
  }

  // cursor is the highest seq held such that every seq before it is held too:
  // the `after_seq` to resume from.
  cursor(id: number): number {
    return this.cursors.get(id) ?? 0;
  }

  resetTimeline(id: number): void {
    this.timelines.delete(id);
    this.cursors.delete(id);
    this.changed();
  }

  timeline(id: number): Message[] {
    const t = this.timelines.get(id);
    if (!t) return [];
    return [...t.values()].sort((a, b) => a.seq - b.seq);
  }

  // addMessage stores a timeline entry once; it returns false for a seq
  // already held (replays, our own echo, duplicate acks).
  addMessage(m: Message, notify = true): boolean {
    let t = this.timelines.get(m.conversation_id);
    if (!t) {
      t = new Map();
      this.timelines.set(m.conversation_id, t);
    }
    if (t.has(m.seq)) return false;
    t.set(m.seq, m);
    let c = this.cursors.get(m.conversation_id) ?? 0;
    while (t.has(c + 1)) c++;
    this.cursors.set(m.conversation_id, c);
    const e = this.entries.get(m.conversation_id);
    if (e) {
      const conv = e.conv;
      if (m.seq > conv.last_seq) conv.last_seq = m.seq;
      if (m.visibility === 'public' && m.kind === 'text' && m.created_at >= (conv.last_message_at || '')) {
        conv.preview = m.body.length > 140 ? m.body.slice(0, 140) : m.body || (m.attachment ? m.attachment.name : '');
        conv.last_message_at = m.created_at;
      }
      if (m.created_at > conv.updated_at) conv.updated_at = m.created_at;
    }
    if (m.author_kind === 'visitor') this.typingUntil.delete(m.conversation_id);
    if (this.me && m.author_kind === 'agent' && m.author_id === this.me.id) {
      // what I write I have read
      this.markRead(m.conversation_id, m.seq, false);
    }
    if (notify) this.changed();
    return true;
  }

  addMessages(ms: Message[]): number {
    let n = 0;
    for (const m of ms) if (this.addMessage(m, false)) n++;
    if (n) this.changed();
    return n;
  }

  // upsertConversation applies a conversation from a list, an event or an ack.
  // An older copy (by updated_at) never overwrites a newer one.
  upsertConversation(row: Conversation): Entry {
    const { contact: brief, online, ...c } = row;
    if (brief) for (const e of this.entries.values()) if (e.conv.contact_id === brief.id) e.brief = brief;
    if (online !== undefined) this.contactOnline.set(c.contact_id, online);
    const e = this.entries.get(c.id);
    if (!e) {
      const ne: Entry = { conv: { ...c, tags: c.tags ?? [] }, brief, detail: false };
      this.entries.set(c.id, ne);
      this.changed();
      return ne;
    }
    if (brief) e.brief = brief;
    if (c.updated_at >= e.conv.updated_at) {
      const keep = e.conv;
      e.conv = { ...c, tags: c.tags ?? [] };
      // previews from followed messages may be newer than the event's
      if (keep.last_seq > e.conv.last_seq) e.conv.last_seq = keep.last_seq;
      if ((keep.last_message_at || '') > (e.conv.last_message_at || '')) {
        e.conv.preview = keep.preview;
        e.conv.last_message_at = keep.last_message_at;
      }
    }
    this.changed();
    return e;
  }

  applyChat(conversationId: number, cv: ChatView): void {
    const e = this.entries.get(conversationId);
    if (!e) return;
    if (!e.chat || e.chat.chat.id <= cv.chat.id) {
      e.chat = cv;
      e.conv.chat_id = cv.chat.id;
      e.conv.chat_state = cv.chat.state;
    }
    for (const p of cv.participants ?? []) this.staffNames.set(p.user_id, p.name);
    this.changed();
  }

  applyView(v: ConversationView): Entry {
    const e = this.upsertConversation(v.conversation);
    if (v.chat) this.applyChat(v.conversation.id, v.chat);
    if (v.contact) {
      e.contact = v.contact;
      e.detail = true;
    }
    for (const r of v.read_marks ?? []) this.applyRead(r, false);
    if (v.presence) this.applyPresence(v.presence, false);
    this.changed();
    return e;
  }

  applyRead(r: ReadMark, notify = true): void {
    if (r.reader_kind === 'visitor') {
      if (r.seq > (this.visitorRead.get(r.conversation_id) ?? 0)) this.visitorRead.set(r.conversation_id, r.seq);
    } else if (this.me && r.reader_id === this.me.id) {
      this.markRead(r.conversation_id, r.seq, false);
    }
    if (notify) this.changed();
  }

  // markRead moves my read mark forward (locally); returns true if it moved.
  markRead(id: number, seq: number, notify = true): boolean {
    if (seq <= (this.myRead.get(id) ?? 0)) return false;
    this.myRead.set(id, seq);
    if (notify) this.changed();
    return true;
  }

  readSeq(id: number): number {
    return this.myRead.get(id) ?? 0;
  }

  // addMention records a note that @-mentioned me: the conversation is
  // marked until I read past it.
  addMention(id: number, seq: number): void {
    if (seq > (this.mentionSeqs.get(id) ?? 0)) this.mentionSeqs.set(id, seq);
    this.changed();
  }

  // mentioned: a note @-mentioning me that I have not read yet.
  mentioned(id: number): boolean {
    const seq = this.mentionSeqs.get(id);
    return !!seq && seq > (this.myRead.get(id) ?? 0);
  }

  mentionCount(): number {
    let n = 0;
    for (const id of this.mentionSeqs.keys()) if (this.mentioned(id)) n++;
    return n;
  }

  clearMentions(): void {
    this.mentionSeqs.clear();
    this.changed();
  }

  visitorReadSeq(id: number): number {
    return this.visitorRead.get(id) ?? 0;
  }

  // unread counts the customer's messages after my read mark.
  unread(id: number): number {
    const t = this.timelines.get(id);
    if (!t) return 0;
    const mark = this.myRead.get(id) ?? 0;
    let n = 0;
    for (const m of t.values()) if (m.seq > mark && m.author_kind === 'visitor') n++;
    return n;
  }

  totalUnread(): number {
    let n = 0;
    for (const id of this.entries.keys()) if (this.isMine(id)) n += this.unread(id);
    return n;
  }

  isLive(id: number): boolean {
    const s = this.entries.get(id)?.conv.chat_state;
    return s === 'waiting' || s === 'pending' || s === 'active' || s === 'bot';
  }

  // isMine: I am an active participant of the conversation's live chat.
  isMine(id: number): boolean {
    const e = this.entries.get(id);
    if (!e || !this.me || !this.isLive(id)) return false;
    if (e.chat) return (e.chat.participants ?? []).some((p) => p.user_id === this.me!.id && !isSet(p.left_at));
    return e.conv.chat_state === 'active' && e.conv.assignee_id === this.me.id;
  }

  // wasIn: I am or was a participant of this chat of the conversation (a
  // chat I transferred away comes back as waiting or pending: my own doing).
  wasIn(id: number, chatId: number): boolean {
    const e = this.entries.get(id);
    return !!e?.chat && !!this.me && e.chat.chat.id === chatId && (e.chat.participants ?? []).some((p) => p.user_id === this.me!.id);
  }

  isIncoming(id: number): boolean {
    const s = this.entries.get(id)?.conv.chat_state;
    return s === 'waiting' || s === 'pending';
  }

  applyPresence(p: Presence, notify = true): void {
    const old = this.sessions.get(p.visitor_session_id);
    if (!old || p.last_seen >= old.last_seen || p.online !== old.online) this.sessions.set(p.visitor_session_id, p);
    this.contactOnline.set(p.contact_id, !!this.presenceOf(p.contact_id));
    if (notify) this.changed();
  }

  // presenceOf returns the contact's most recent online session, if any.
  presenceOf(contactId: number): Presence | undefined {
    let best: Presence | undefined;
    for (const p of this.sessions.values()) {
      if (p.contact_id !== contactId || !p.online) continue;
      if (!best || p.last_seen > best.last_seen) best = p;
    }
    return best;
  }

  // isOnline: the customer is on the site now (the latest of list row and presence events).
  isOnline(contactId: number): boolean {
    return this.contactOnline.get(contactId) ?? !!this.presenceOf(contactId);
  }

  applyTyping(id: number, t: TypingEvent): void {
    if (t.party !== 'visitor') return;
    if (t.typing) this.typingUntil.set(id, { name: t.name, until: this.now() + 6000 });
    else this.typingUntil.delete(id);
    this.changed();
  }

  visitorTyping(id: number): string | null {
    const t = this.typingUntil.get(id);
    if (!t || t.until < this.now()) return null;
    return t.name;
  }

  // live entries whose customer is on the site now (Active chats).
  // Active chats: live chats escalated to a human (not those still with the
  // site's assistant) whose customer is on the site now.
  activeChats(): Entry[] {
    return [...this.entries.values()]
      .filter((e) => e.conv.chat_state !== 'bot' && this.isLive(e.conv.id) && this.isOnline(e.conv.contact_id))
      .sort((a, b) => (b.conv.updated_at > a.conv.updated_at ? 1 : b.conv.updated_at < a.conv.updated_at ? -1 : b.conv.id - a.conv.id));
  }

  // the waiting/pending chats, oldest request first (the order routing serves).
  queue(): Entry[] {
    const req = (e: Entry) => (e.chat && isSet(e.chat.chat.requested_at) ? e.chat.chat.requested_at : e.conv.created_at);
    return [...this.entries.values()]
      .filter((e) => this.isIncoming(e.conv.id))
      .sort((a, b) => (req(a) < req(b) ? -1 : req(a) > req(b) ? 1 : a.conv.id - b.conv.id));
  }

  // chips of the chat bar: chats I am in and chats offered to me (incoming).
  chips(): { id: number; kind: 'incoming' | 'mine' | 'unread' }[] {
    const out: { id: number; kind: 'incoming' | 'mine' | 'unread'; at: string }[] = [];
    for (const e of this.entries.values()) {
      const id = e.conv.id;
      if (this.isMine(id)) out.push({ id, kind: this.unread(id) > 0 ? 'unread' : 'mine', at: e.conv.created_at });
      else if (this.isIncoming(id)) out.push({ id, kind: 'incoming', at: e.conv.created_at });
    }
    out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id));
    return out.map(({ id, kind }) => ({ id, kind }));
  }

  // applyOffer applies an offer event. An offer to me is kept while pending
  // and dropped when resolved; an offer to someone else (the answer to my
  // invitation or transfer) is returned for the caller to announce.
  applyOffer(ev: OfferEvent): Offer | null {
    if (ev.conversation) this.upsertConversation(ev.conversation);
    const o = ev.offer;
    if (!this.me || o.user_id !== this.me.id) {
      this.changed();
      return o;
    }
    this.setOffer(o.chat_id, o.state === 'pending' ? { offer: o, convId: ev.conversation.id } : null, true);
    this.changed();
    return null;
  }

  private setOffer(chat: number, o: MyOffer | null, log: boolean): void {
    if (o) this.offers.set(chat, o);
    else this.offers.delete(chat);
    if (log) this.offerLog?.push([chat, o]);
  }

  // beginOfferSync is called as GET /me/offers is sent: offer events from
  // then on are kept to apply on top of its reply. Returns the fetch's ticket.
  beginOfferSync(): number {
    this.offerLog = [];
    return ++this.offerTicket;
  }

  // setOffers applies the reply of GET /me/offers (my pending offers): it
  // replaces the pending set, so an offer resolved while no event could
  // reach us is gone, then the offer events that arrived since the fetch was
  // sent apply on top (an offer resolved meanwhile does not come back). The
  // reply to a fetch superseded by a newer one is ignored (returns null);
  // else it returns the chat ids of the offers that were not pending before.
  setOffers(ticket: number, list: OfferEvent[]): number[] | null {
    if (ticket !== this.offerTicket || !this.offerLog) return null;
    const log = this.offerLog;
    this.offerLog = null;
    const before = new Set(this.offers.keys());
    this.offers.clear();
    for (const ev of list) {
      this.upsertConversation(ev.conversation);
      const o = ev.offer;
      if (o.state === 'pending' && (!this.me || o.user_id === this.me.id)) this.offers.set(o.chat_id, { offer: o, convId: ev.conversation.id });
    }
    for (const [chat, o] of log) this.setOffer(chat, o, false);
    this.changed();
    return [...this.offers.keys()].filter((id) => !before.has(id));
  }

  // endOfferSync gives up on a fetch that failed (events apply as they come).
  endOfferSync(ticket: number): void {
    if (ticket === this.offerTicket) this.offerLog = null;
  }

  clearOffers(): void {
    this.offers.clear();
    this.offerLog = null;
    this.offerTicket++; // a fetch still in flight is for the previous session
  }

  // dropOffer forgets the offer of a conversation's chat (answered here, or
  // found gone by the server).
  dropOffer(convId: number): void {
    const chats = new Set([...this.offers].filter(([, o]) => o.convId === convId).map(([chat]) => chat));
    const live = this.entries.get(convId)?.conv.chat_id;
    if (live) chats.add(live); // also out of a GET /me/offers reply on its way
    for (const chat of chats) this.setOffer(chat, null, true);
    this.changed();
  }

  // pendingOffers lists the offers still open, oldest first: the chat is
  // still the conversation's live chat, I am not in it yet, nobody else
  // took a routed chat, and the offer has not expired.
  pendingOffers(): PendingOffer[] {
    const now = this.now();
    const out: PendingOffer[] = [];
    for (const [chatId, { offer, convId }] of this.offers) {
      const e = this.entries.get(convId);
      if (!e || e.conv.chat_id !== chatId || !this.isLive(convId) || this.isMine(convId)) continue;
      if ((offer.kind === 'route' || offer.kind === 'assign') && e.conv.chat_state === 'active') continue;
      if (isSet(offer.expires_at) && Date.parse(offer.expires_at!) <= now) continue;
      out.push({ offer, entry: e });
    }
    return out.sort((a, b) => ((a.offer.offered_at ?? '') < (b.offer.offered_at ?? '') ? -1 : 1));
  }

  offerFor(convId: number): Offer | undefined {
    return this.pendingOffers().find((p) => p.entry.conv.id === convId)?.offer;
  }

  // myLoad counts what routing counts: chats I am in plus exclusive offers
  // I have not answered.
  myLoad(): number {
    let n = 0;
    for (const id of this.entries.keys()) if (this.isMine(id)) n++;
    return n + this.pendingOffers().filter((p) => p.offer.exclusive !== false).length;
  }

  nameOf(userId: number | undefined): string {
    if (!userId) return 'Unassigned';
    if (this.me && userId === this.me.id) return 'You';
    return this.staffNames.get(userId) ?? 'Another agent';
  }

  // knows: the user's name is known (else the staff list is worth reloading).
  knows(userId: number | undefined): boolean {
    return !userId || this.staffNames.has(userId);
  }

  // rating of the conversation's latest chat, when known (detail or chat event).
  ratingOf(id: number): { score: number; comment: string } | null {
    const ch = this.entries.get(id)?.chat?.chat;
    if (!ch || !ch.rating) return null;
    return { score: ch.rating, comment: ch.rating_comment ?? '' };
  }
}
