// The console's controller: wires the REST API and the staff socket into the
// store, decides which conversations to follow, and exposes the actions the
// screens call.

import { api, ApiError, q, setCSRF, setUnauthenticatedHandler } from './api';
import { CommandError, StaffSocket, type SocketState } from './socket';
import { Store } from './store';
import { chime, notifyOnce, onScreen } from './notify';
import { loadPrefsFor, prefs } from './prefs';
import type {
  Availability, ChannelMessage, ChatView, Conversation, ConversationView, Me, Message, Offer, OfferEvent, OutboxMail, Presence, QuickReply, ReadMark, StaffMember, TicketStatus, TransferTargets, TypingEvent, User,
} from './types';

export const store = new Store();

type Listener = () => void;

// A colleague @-mentioned me in a note of a conversation.
export interface MentionBanner {
  convId: number;
  seq: number;
  author: string;
}

class Client {
  me: Me | null = null;
  booted = false;
  socketState: SocketState = 'closed';
  openId = 0; // the conversation on screen
  onNavigate: (path: string) => void = () => {};
  // a routing notice for the agent (an offer missed, set away, an
  // invitation declined); empty when there is none
  notice = '';
  // the in-app banner of a colleague's @-mention (shown for a while)
  mention: MentionBanner | null = null;
  private mentionTimer = 0;
  // the shared quick replies and mine: loaded once per session (null until
  // then), again after each change
  quickReplies: QuickReply[] | null = null;
  private qrLoad: Promise<void> | null = null;
  private missedAt = 0;
  private liveReady = false; // replays of the first load do not notify
  private followed = new Set<number>();
  private detailInFlight = new Map<number, Promise<void>>();
  private listeners = new Set<Listener>();
  private socket: StaffSocket;
  private clientSeq = 0;
  private tab = Math.random().toString(36).slice(2, 10);

  constructor() {
    this.socket = new StaffSocket({
      onHello: (d) => this.onHello(d),
      onEvent: (f) => this.onEvent(f.type, f.conversation_id ?? 0, f.data),
      onState: (s) => {
        this.socketState = s;
        this.emit();
      },
      onRevoked: () => void this.checkSession(),
    });
    setUnauthenticatedHandler(() => this.signedOut());
    window.addEventListener('online', () => this.socket.reconnectNow());
    window.addEventListener('focus', () => this.markOpenRead());
    document.addEventListener('visibilitychange', () => this.markOpenRead());
  }

  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  async boot(): Promise<void> {
    try {
      const me = await api<Me>('GET', '/me', undefined, { quiet401: true });
      this.start(me);
    } catch {
      /* not signed in (or server down): the sign-in screen says so on submit */
    }
    this.booted = true;
    this.emit();
  }

  async signIn(email: string, password: string): Promise<void> {
    const me = await api<Me>('POST', '/auth/login', { email, password }, { quiet401: true });
    this.start(me);
    this.emit();
  }

  async signOut(): Promise<void> {
    try {
      await api('POST', '/auth/logout');
    } finally {
      this.signedOut();
    }
  }

  private signedOut(): void {
    this.socket.stop();
    this.me = null;
    this.notice = '';
    this.dismissMention();
    this.quickReplies = null;
    this.qrLoad = null;
    loadPrefsFor(0);
    store.me = null;
    store.entries.clear();
    store.clearOffers();
    store.clearMentions();
    this.followed.clear();
    setCSRF('');
    store.changed();
    this.emit();
  }

  private async checkSession(): Promise<void> {
    try {
      await api<Me>('GET', '/me', undefined, { quiet401: true });
      this.socket.start(); // session still valid (e.g. password changed elsewhere is 401)
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) this.signedOut();
      else setTimeout(() => void this.checkSession(), 3000);
    }
  }

  private start(me: Me): void {
    this.me = me;
    setCSRF(me.csrf_token);
    loadPrefsFor(me.user.id);
    store.setMe(me.user);
    this.socket.start();
  }

  private onHello(d: { epoch: string; user: User }): void {
    store.setEpoch(d.epoch);
    store.setMe(d.user);
    if (this.me) this.me.user = d.user;
    for (const id of this.followed) this.subscribe(id);
    void this.loadOffers();
    void this.loadStaff();
    void this.loadLive();
  }

  // loadOffers fetches the chats offered to me and not answered yet. It runs
  // on every `hello`: the first one as the console starts (a reload forgets
  // the offer cards), then after each reconnect (offer events sent while the
  // socket was down are lost). Sent in the same tick as `hello` is handled,
  // so every offer event after it either applies on top of the reply or
  // comes after it.
  async loadOffers(): Promise<void> {
    const ticket = store.beginOfferSync();
    let r: { offers: OfferEvent[] | null };
    try {
      r = await api<{ offers: OfferEvent[] | null }>('GET', '/me/offers');
    } catch {
      store.endOfferSync(ticket); // the events keep the cards until the next connect
      return;
    }
    const list = r.offers ?? [];
    const added = store.setOffers(ticket, list);
    if (!added) return; // a newer fetch is on its way
    for (const ev of list) {
      const cid = ev.conversation.id;
      if (!store.entries.get(cid)?.detail) void this.ensureDetail(cid); // who the customer is
      this.syncFollow(cid);
    }
    this.checkNames(list.map((ev) => ev.offer.from_user_id));
    // offered while we were disconnected: announce as the event would have
    if (!this.liveReady) return;
    for (const ev of list) if (added.includes(ev.offer.chat_id) && store.offerFor(ev.conversation.id)) this.announceOffer(ev);
  }

  // loadStaff fetches the colleagues' names and availability (at connect;
  // again, at most every 30 s, when an unknown assignee shows up).
  private staffAt = 0;
  async loadStaff(): Promise<void> {
    this.staffAt = Date.now();
    try {
      const r = await api<{ staff: StaffMember[] }>('GET', '/staff');
      store.setStaff(r.staff ?? []);
    } catch {
      /* names fall back to "Another agent" until the next try */
    }
  }

  private checkNames(ids: (number | undefined)[]): void {
    if (Date.now() - this.staffAt < 30000) return;
    if (ids.some((id) => !store.knows(id))) void this.loadStaff();
  }

  // loadLive lists every live chat (and refreshes them after a reconnect).
  async loadLive(): Promise<void> {
    let cursor = '';
    const seen = new Set<number>();
    do {
      const page = await api<{ conversations: Conversation[]; next_cursor: string }>('GET', '/conversations' + q({ live: 'true', limit: 200, cursor }));
      // list rows carry the contact and `online`: no detail fetch per row
      for (const c of page.conversations) {
        seen.add(c.id);
        store.upsertConversation(c);
        this.follow(c.id);
      }
      this.checkNames(page.conversations.map((c) => c.assignee_id));
      cursor = page.next_cursor;
    } while (cursor);
    setTimeout(() => (this.liveReady = true), 2000);
    // chats that ended while we were away
    for (const e of store.entries.values()) {
      if (store.isLive(e.conv.id) && !seen.has(e.conv.id)) void this.ensureDetail(e.conv.id, true);
    }
  }

  ensureDetail(id: number, force = false): Promise<void> {
    const e = store.entries.get(id);
    if (e?.detail && !force) return Promise.resolve();
    let p = this.detailInFlight.get(id);
    if (p) return p;
    p = api<ConversationView>('GET', `/conversations/${id}`)
      .then((v) => {
        store.applyView(v);
        this.syncFollow(id);
      })
      .catch(() => {})
      .finally(() => this.detailInFlight.delete(id));
    this.detailInFlight.set(id, p);
    return p;
  }

  // follow live conversations and the one on screen; let go of the rest.
  private syncFollow(id: number): void {
    if (store.isLive(id) || id === this.openId) this.follow(id);
    else this.unfollow(id);
  }

  follow(id: number): void {
    if (this.followed.has(id)) return;
    this.followed.add(id);
    if (this.socket.connected) this.subscribe(id);
  }

  private unfollow(id: number): void {
    if (!this.followed.delete(id)) return;
    if (this.socket.connected) this.socket.command('unsubscribe', { conversation_id: id }).catch(() => {});
  }

  private subscribe(id: number): void {
    const after = store.epoch ? store.cursor(id) : 0;
    this.socket
      .command<{ epoch: string; last_seq: number; recovered: boolean }>('subscribe', { conversation_id: id, after_seq: after, epoch: after ? store.epoch : '' })
      .then((ack) => {
        if (!ack.recovered) void this.reloadTimeline(id, ack.last_seq);
        else if (id === this.openId) this.markOpenRead();
      })
      .catch(() => {});
  }

  // reloadTimeline pages the timeline over REST (when the socket cannot replay).
  private async reloadTimeline(id: number, lastSeq: number): Promise<void> {
    store.resetTimeline(id);
    let after = 0;
    while (after < lastSeq) {
      const page = await api<{ messages: Message[] }>('GET', `/conversations/${id}/messages` + q({ after_seq: after, limit: 200 }));
      if (!page.messages.length) break;
      store.addMessages(page.messages);
      after = page.messages[page.messages.length - 1].seq;
    }
  }

  private onEvent(type: string, cid: number, data: unknown): void {
    switch (type) {
      case 'message': {
        const m = data as Message;
        if (!store.addMessage(m)) break;
        if (m.conversation_id === this.openId) this.markOpenRead();
        // a live customer message in one of my chats that is not on screen
        if (this.liveReady && m.author_kind === 'visitor' && store.isMine(m.conversation_id) && (m.conversation_id !== this.openId || document.visibilityState !== 'visible')) {
          const key = `msg:${m.conversation_id}:${m.seq}`;
          notifyOnce(key, m.author_name || 'Customer', m.body || 'Sent a file', () => this.onNavigate('c/' + m.conversation_id));
          chime(key);
        }
        break;
      }
      case 'conversation': {
        const c = data as Conversation;
        const known = store.entries.has(c.id);
        store.upsertConversation(c);
        // an incoming chat, unless I was in it (I transferred it away: my own action)
        if ((c.chat_state === 'waiting' || c.chat_state === 'pending') && c.chat_id && !store.wasIn(c.id, c.chat_id)) {
          notifyOnce(`chat:${c.chat_id}`, 'Incoming chat', c.preview || 'A customer is waiting', () => this.onNavigate('c/' + c.id));
          if (store.me && store.me.role !== 'supervisor' && store.me.availability !== 'offline') chime(`chat:${c.chat_id}`);
        }
        // a conversation new to us: its detail tells who the customer is
        if (!known) void this.ensureDetail(c.id);
        this.checkNames([c.assignee_id]);
        this.syncFollow(c.id);
        break;
      }
      case 'chat': {
        if (!store.entries.has(cid)) {
          void this.ensureDetail(cid);
          break;
        }
        store.applyChat(cid, data as ChatView);
        this.syncFollow(cid);
        break;
      }
      case 'typing':
        store.applyTyping(cid, data as TypingEvent);
        break;
      case 'read':
        store.applyRead(data as ReadMark);
        break;
      case 'presence':
        store.applyPresence(data as Presence);
        break;
      case 'availability': {
        const a = data as { user_id: number; name: string; availability: Availability };
        const mine = !!store.me && a.user_id === store.me.id;
        const was = store.me?.availability;
        store.applyAvailability(a.user_id, a.name, a.availability);
        if (this.me && store.me && mine) this.me.user = store.me;
        // routing sets an agent away after missed offers
        if (mine && a.availability === 'away' && was !== 'away' && Date.now() - this.missedAt < 10000) {
          this.setNotice('You missed chat offers, so you were set to Away. Set yourself Available to get chats again.');
        }
        break;
      }
      case 'offer':
        this.onOffer(data as OfferEvent);
        break;
      case 'mention':
        this.onMention(data as Message);
        break;
    }
  }

  // onMention: a colleague @-mentioned me in a note (sent to my sockets
  // only). The conversation is marked until I read it; a banner and a
  // desktop notification say so, as the preferences allow.
  private onMention(m: Message): void {
    const me = store.me;
    if (!me || (m.author_kind === 'agent' && m.author_id === me.id)) return; // my own note
    const cid = m.conversation_id;
    if (!store.entries.get(cid)?.detail) void this.ensureDetail(cid); // who the customer is
    store.addMessage(m);
    store.addMention(cid, m.seq);
    if (cid === this.openId) this.markOpenRead();
    const author = m.author_name || store.nameOf(m.author_id);
    if (!prefs().mentions) return;
    if (!(cid === this.openId && onScreen())) {
      clearTimeout(this.mentionTimer);
      this.mention = { convId: cid, seq: m.seq, author };
      this.mentionTimer = window.setTimeout(() => this.dismissMention(), 12000);
      this.emit();
    }
    notifyOnce(`mention:${cid}:${m.seq}`, `${author} mentioned you`, m.body, () => this.onNavigate('c/' + cid));
  }

  dismissMention(): void {
    clearTimeout(this.mentionTimer);
    if (!this.mention) return;
    this.mention = null;
    this.emit();
  }

  private onOffer(ev: OfferEvent): void {
    const known = store.entries.has(ev.conversation.id);
    const answer = store.applyOffer(ev);
    const o = ev.offer;
    const cid = ev.conversation.id;
    if (!known) void this.ensureDetail(cid);
    this.syncFollow(cid);
    if (answer) {
      // the answer to my invitation or transfer
      if (answer.state === 'declined' || answer.state === 'missed') {
        const who = store.nameOf(answer.user_id);
        const what = answer.kind === 'invite' ? 'your invitation' : answer.kind === 'transfer' ? 'the transfer' : 'the chat';
        this.setNotice(answer.state === 'declined' ? `${who} declined ${what}.` : `${who} did not answer ${what}.`);
      }
      return;
    }
    if (o.state === 'missed') {
      this.missedAt = Date.now();
      this.setNotice('A chat offered to you timed out and went back to the queue.');
      return;
    }
    if (o.state !== 'pending') return;
    this.checkNames([o.from_user_id]);
    this.announceOffer(ev);
  }

  private announceOffer({ offer: o, conversation: c }: OfferEvent): void {
    // a routed chat was announced as "Incoming chat" already (same key)
    const key = o.kind === 'route' ? `chat:${o.chat_id}` : `offer:${o.chat_id}:${o.offered_at}`;
    chime(key);
    notifyOnce(key, offerTitle(o), c.preview || 'A customer is waiting', () => this.onNavigate('c/' + c.id));
  }

  setNotice(text: string): void {
    this.notice = text;
    this.emit();
  }

  // open shows a conversation: detail, follow, and read.
  async open(id: number): Promise<void> {
    const prev = this.openId;
    this.openId = id;
    if (prev && prev !== id) this.syncFollow(prev);
    this.follow(id);
    await this.ensureDetail(id, true);
    this.markOpenRead();
  }

  close(): void {
    const prev = this.openId;
    this.openId = 0;
    if (prev) this.syncFollow(prev);
  }

  markOpenRead(): void {
    const id = this.openId;
    if (!id || document.visibilityState !== 'visible') return;
    const tl = store.timeline(id);
    if (!tl.length) return;
    const last = tl[tl.length - 1].seq;
    if (store.markRead(id, last)) this.socket.command('read', { conversation_id: id, seq: last }).catch(() => {});
  }

  // clientId makes a client id; texts use their channel as the prefix, so
  // the timeline can tell how they went.
  clientId(prefix = 'console'): string {
    return `${prefix}-${this.tab}-${Date.now().toString(36)}-${++this.clientSeq}`;
  }

  // send writes a reply, or a note (mentions: the colleagues it @-mentions).
  async send(id: number, body: string, note: boolean, attachmentId?: number, mentions: number[] = []): Promise<void> {
    const data: Record<string, unknown> = { conversation_id: id, client_id: this.clientId(), body };
    if (attachmentId) data.attachment_id = attachmentId;
    if (note && mentions.length) data.mentions = mentions;
    const m = await this.socket.command<Message>(note ? 'note' : 'send', data);
    store.addMessage(m);
  }

  typing(id: number, typing: boolean): void {
    if (this.socket.connected) this.socket.command('typing', { conversation_id: id, typing }).catch(() => {});
  }

  private async viewCommand(type: string, id: number): Promise<void> {
    const v = await this.socket.command<ConversationView>(type, { conversation_id: id });
    store.applyView(v);
    this.syncFollow(id);
  }

  join = (id: number) => this.viewCommand('join', id);

  // accept takes the chat offered to me (joining accepts the offer).
  async accept(id: number): Promise<void> {
    try {
      await this.join(id);
    } catch (e) {
      if (e instanceof CommandError && offerGone.has(e.code)) store.dropOffer(id);
      throw e;
    }
    store.dropOffer(id);
  }

  async decline(id: number): Promise<void> {
    try {
      await this.socket.command('decline', { conversation_id: id });
    } catch (e) {
      if (!(e instanceof CommandError) || !offerGone.has(e.code)) throw e;
    }
    store.dropOffer(id);
  }

  // handOver transfers (to an agent or a department), invites or assigns.
  async handOver(kind: 'transfer' | 'invite' | 'assign', id: number, target: { user_id: number } | { department_id: number }): Promise<void> {
    const v = await this.socket.command<ConversationView>(kind, { conversation_id: id, ...target });
    store.applyView(v);
    this.syncFollow(id);
  }

  targets(id: number): Promise<TransferTargets> {
    return api<TransferTargets>('GET', `/conversations/${id}/transfer-targets`);
  }

  // setAvatar uploads my profile picture; removeAvatar deletes it.
  async setAvatar(file: File): Promise<void> {
    const fd = new FormData();
    fd.append('file', file, file.name || 'avatar');
    this.meChanged(await api<User>('PUT', '/me/avatar', fd));
  }
  async removeAvatar(): Promise<void> {
    this.meChanged(await api<User>('DELETE', '/me/avatar'));
  }
  private meChanged(u: User): void {
    store.setMe(u);
    if (this.me) this.me.user = u;
  }

  async setCapacity(capacity: number): Promise<void> {
    const u = await api<User>('PUT', '/me/capacity', { capacity });
    store.setMe(u);
    if (this.me) this.me.user = u;
  }
  leave = (id: number) => this.viewCommand('leave', id);
  end = (id: number) => this.viewCommand('end_chat', id);

  async setAvailability(a: Availability): Promise<void> {
    const u = await api<User>('PUT', '/me/availability', { availability: a });
    store.setMe(u);
    if (this.me) this.me.user = u;
    if (a === 'available' || a === 'busy') this.setNotice('');
  }

  async setTags(id: number, tags: string[]): Promise<void> {
    store.upsertConversation(await api<Conversation>('PUT', `/conversations/${id}/tags`, { tags }));
  }

  async setPriority(id: number, priority: string): Promise<void> {
    store.upsertConversation(await api<Conversation>('PUT', `/conversations/${id}/priority`, { priority }));
  }

  async setStatus(id: number, status: TicketStatus): Promise<void> {
    store.upsertConversation(await api<Conversation>('PUT', `/conversations/${id}/status`, { status }));
  }

  // setAssignee gives a ticket to an agent, or unassigns it (0).
  async setAssignee(id: number, userId: number): Promise<void> {
    store.upsertConversation(await api<Conversation>('PUT', `/conversations/${id}/assignee`, { user_id: userId }));
    this.checkNames([userId]);
  }

  // emailReply appends a reply the server emails to the customer. The same
  // client id (a retry after a lost answer) never sends a second mail.
  async emailReply(id: number, body: string, clientId: string): Promise<Message> {
    const m = await api<Message>('POST', `/conversations/${id}/email-reply`, { client_id: clientId, body });
    store.addMessage(m);
    return m;
  }

  // channelMessage appends a text the server sends by SMS or WhatsApp. The
  // same client id (a retry after a lost answer) never sends a second one.
  async channelMessage(id: number, req: ChannelMessage): Promise<Message> {
    const m = await api<Message>('POST', `/conversations/${id}/channel-message`, req);
    store.addMessage(m);
    return m;
  }

  async mail(id: number): Promise<OutboxMail[]> {
    const r = await api<{ mail: OutboxMail[] | null }>('GET', `/conversations/${id}/mail`);
    return r.mail ?? [];
  }

  async upload(id: number, file: File): Promise<number> {
    const fd = new FormData();
    fd.append('file', file, file.name || 'pasted-image.png');
    const a = await api<{ id: number }>('POST', `/conversations/${id}/attachments`, fd);
    return a.id;
  }

  // loadQuickReplies fetches the quick replies once per session (force: again).
  loadQuickReplies(force = false): Promise<void> {
    if (this.qrLoad && !force) return this.qrLoad;
    const p = api<{ quick_replies: QuickReply[] | null }>('GET', '/quick-replies').then(
      (r) => {
        if (this.qrLoad !== p) return; // signed out, or a newer fetch
        this.quickReplies = r.quick_replies ?? [];
        this.emit();
      },
      (e) => {
        if (this.qrLoad === p) this.qrLoad = null; // try again next time
        throw e;
      },
    );
    this.qrLoad = p;
    return p;
  }

  // saveQuickReply creates (id 0) or edits a quick reply, then reloads the list.
  async saveQuickReply(id: number, data: { shortcut: string; body: string; shared?: boolean }): Promise<QuickReply> {
    try {
      return id ? await api<QuickReply>('PATCH', `/quick-replies/${id}`, { shortcut: data.shortcut, body: data.body }) : await api<QuickReply>('POST', '/quick-replies', data);
    } finally {
      void this.loadQuickReplies(true).catch(() => {});
    }
  }

  async deleteQuickReply(id: number): Promise<void> {
    try {
      await api('DELETE', `/quick-replies/${id}`);
    } finally {
      void this.loadQuickReplies(true).catch(() => {});
    }
  }

  async list(params: Record<string, string | number | undefined>): Promise<{ conversations: Conversation[]; next_cursor: string }> {
    const page = await api<{ conversations: Conversation[]; next_cursor: string }>('GET', '/conversations' + q(params));
    for (const c of page.conversations) store.upsertConversation(c);
    this.checkNames(page.conversations.map((c) => c.assignee_id));
    return page;
  }
}

// errors that mean the offer is no longer there to answer
const offerGone = new Set(['no_offer', 'chat_already_taken', 'chat_ended', 'no_live_chat', 'conversation_not_found']);

export function offerTitle(o: Offer): string {
  const from = o.from_user_id ? store.nameOf(o.from_user_id) : 'a supervisor';
  switch (o.kind) {
    case 'invite':
      return `Invitation from ${from}`;
    case 'transfer':
      return `Transfer from ${from}`;
    case 'assign':
      return `Assigned by ${from}`;
    default:
      return 'New chat';
  }
}

export const client = new Client();
