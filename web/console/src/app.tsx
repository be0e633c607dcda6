import { useEffect, useRef, useState } from 'preact/hooks';
import { Fragment, type ComponentChildren } from 'preact';
import { api, ApiError } from './api';
import { client, store } from './client';
import { isSet, type Entry } from './store';
import type { Availability, Conversation, Site } from './types';
import { ago, clock, customerName, duration } from './util';
import { askNotifications, notificationsState } from './notify';
import { errText, Modal } from './ui';
import { CapacityControl, HandOverDialog, OfferCards, type HandOverKind } from './routing';
import { SettingsScreen } from './settings';
import { PreferencesScreen, QuickRepliesScreen } from './personal';
import { onPrefs, prefs } from './prefs';
import { BASE, currentPath, linkProps, navigate, useRoute } from './route';
import { ChannelBadge, Empty, MentionMark, PriorityTag, RatingBadge, StatePill, TicketFields } from './bits';
import { isTextChannel, textLabel } from './channels';
import { TextComposer } from './text';
import { Timeline } from './timeline';
import { useQuickMenu } from './quickmenu';
import { useMentionMenu } from './mentionmenu';
import { bothMenus } from './picker';
import { SuperviseScreen } from './superviseview';
import { CustomerHistory, TicketScreen, TicketsScreen, ticketTab } from './tickets';
import { queryError } from './ticketlist';
import { useVisits, VisitFacts, VisitHistory } from './visits';

export { navigate };

// useLive re-renders on any store or client change, and every 15 s for clocks.
function useLive(): void {
  const [, set] = useState(0);
  useEffect(() => {
    // batch bursts of changes into one render (not requestAnimationFrame:
    // it stalls in background tabs, where the chat bar must stay current)
    let queued = false;
    const bump = () => {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        set((n) => n + 1);
      });
    };
    const a = store.subscribe(bump);
    const b = client.on(bump);
    const c = onPrefs(bump);
    const t = setInterval(bump, 15000);
    return () => {
      a();
      b();
      c();
      clearInterval(t);
    };
  }, []);
}

// ---------- root ----------

export function App() {
  useLive();
  const route = useRoute();
  if (!client.booted) return <div class="boot" aria-busy="true">Loading…</div>;
  if (!client.me) return <SignIn />;
  return <Shell route={route} />;
}

function SignIn() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const f = ev.currentTarget as HTMLFormElement;
    const email = (f.elements.namedItem('email') as HTMLInputElement).value.trim();
    const password = (f.elements.namedItem('password') as HTMLInputElement).value;
    setBusy(true);
    setError('');
    try {
      await client.signIn(email, password);
      if (!currentPath() || currentPath() === 'signin') navigate('active');
    } catch (e) {
      if (e instanceof ApiError && e.code === 'invalid_credentials') setError('Wrong email or password. Check both and try again.');
      else if (e instanceof ApiError && e.status === 429) setError('Too many attempts. Wait a minute, then try again.');
      else setError(errText(e));
      (f.elements.namedItem('password') as HTMLInputElement).select();
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div class="logo" aria-hidden="true">S</div>
        <h1 id="signin-title">Sign in to Switchboard</h1>
        <p class="muted">The agent console</p>
        <label>
          Email
          <input id="email" name="email" type="email" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input id="password" name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && (
          <p class="form-error" id="signin-error" role="alert">
            {error}
          </p>
        )}
        <button id="signin-submit" class="btn primary wide" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

// ---------- shell ----------

function Shell({ route }: { route: string }) {
  const [help, setHelp] = useState(false);
  const [confirmEnd, setConfirmEnd] = useState(0);
  const [handOver, setHandOver] = useState<{ id: number; kind: HandOverKind } | null>(null);
  const convId = route.startsWith('c/') ? Number(route.slice(2)) || 0 : 0;
  const ticketId = route.startsWith('t/') ? Number(route.slice(2)) || 0 : 0;
  const tab = ticketTab(route);
  const admin = store.me?.role === 'admin';
  const supervises = admin || store.me?.role === 'supervisor';

  useEffect(() => {
    const unread = store.totalUnread();
    const incoming = store.queue().length;
    const n = unread + incoming + store.mentionCount();
    document.title = (n ? `(${n}) ` : '') + 'Switchboard';
  });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT');
      if (e.key === 'Escape') {
        setHelp(false);
        setConfirmEnd(0);
        setHandOver(null);
        return;
      }
      if (e.key === '?' && !typing) {
        e.preventDefault();
        setHelp((h) => !h);
        return;
      }
      if (!e.altKey) return;
      const chips = store.chips();
      const idx = chips.findIndex((c) => c.id === convId);
      switch (e.code) {
        case 'ArrowDown':
        case 'ArrowUp': {
          if (!chips.length) return;
          e.preventDefault();
          const d = e.code === 'ArrowDown' ? 1 : -1;
          const next = chips[(idx + d + chips.length) % chips.length] ?? chips[0];
          navigate('c/' + next.id);
          return;
        }
        case 'KeyJ': {
          // join (or accept) the open chat, else accept the oldest offer to me
          if (store.me?.role === 'supervisor') return; // supervisors do not join chats
          if (convId && (store.offerFor(convId) || store.isIncoming(convId))) {
            e.preventDefault();
            void client.accept(convId).catch(() => {});
            return;
          }
          const offer = store.pendingOffers()[0]?.entry.conv.id;
          if (offer) {
            e.preventDefault();
            void client.accept(offer).then(() => navigate('c/' + offer), () => {});
          }
          return;
        }
        case 'KeyT':
          if (convId && store.isMine(convId) && store.entries.get(convId)?.conv.chat_state === 'active') {
            e.preventDefault();
            setHandOver({ id: convId, kind: 'transfer' });
          }
          return;
        case 'KeyE':
          if (convId && store.isLive(convId)) {
            e.preventDefault();
            setConfirmEnd(convId);
          }
          return;
        case 'KeyA': {
          e.preventDefault();
          const order: Availability[] = ['available', 'busy', 'away', 'offline'];
          const cur = store.me?.availability ?? 'offline';
          void client.setAvailability(order[(order.indexOf(cur) + 1) % order.length]).catch(() => {});
          return;
        }
        case 'Digit1':
          e.preventDefault();
          navigate('active');
          return;
        case 'Digit2':
          e.preventDefault();
          navigate('queue');
          return;
        case 'Digit3':
          e.preventDefault();
          navigate('inbox');
          return;
        case 'Digit4':
          e.preventDefault();
          navigate('history');
          return;
        case 'Digit5':
          e.preventDefault();
          navigate('tickets');
          return;
        case 'Digit6':
          if (store.me?.role === 'admin') {
            e.preventDefault();
            navigate('settings');
          }
          return;
        case 'Digit7':
          e.preventDefault();
          navigate('quick-replies');
          return;
        case 'Digit8':
          e.preventDefault();
          navigate('preferences');
          return;
        case 'Digit9':
          if (store.me?.role === 'admin' || store.me?.role === 'supervisor') {
            e.preventDefault();
            navigate('supervise');
          }
          return;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [convId]);

  let screen: ComponentChildren;
  if (convId) screen = <ConversationScreen id={convId} key={convId} onEnd={() => setConfirmEnd(convId)} onHandOver={(kind) => setHandOver({ id: convId, kind })} />;
  else if (route === 'queue') screen = <QueueScreen />;
  else if (route === 'inbox') screen = <ListScreen key="inbox" mode="inbox" />;
  else if (route === 'history') screen = <ListScreen key="history" mode="history" />;
  else if (ticketId) screen = <TicketScreen id={ticketId} key={'t' + ticketId} />;
  else if (tab) screen = <TicketsScreen tab={tab} />;
  else if (route === 'settings' && admin) screen = <SettingsScreen />;
  else if (route === 'supervise' && supervises) screen = <SuperviseScreen />;
  else if (route === 'quick-replies') screen = <QuickRepliesScreen />;
  else if (route === 'preferences') screen = <PreferencesScreen />;
  else screen = <ActiveScreen />;

  const section = convId ? '' : ticketId || tab ? 'tickets' : route || 'active';
  return (
    <div class="shell">
      <TopBar current={convId} onHelp={() => setHelp(true)} />
      {client.socketState !== 'open' && (
        <div class="banner" role="status" id="conn-banner">
          {client.socketState === 'connecting' ? 'Connecting…' : 'Connection lost. Reconnecting…'}
        </div>
      )}
      {client.notice && (
        <div class="banner notice" role="status" id="routing-notice">
          <span>{client.notice}</span>
          <button class="btn ghost small" onClick={() => client.setNotice('')} aria-label="Dismiss this notice">Dismiss</button>
        </div>
      )}
      {client.mention && <MentionBannerView />}
      <div class="body">
        <Nav section={section} />
        <main class="main" id="main">
          {screen}
        </main>
      </div>
      {help && <HelpOverlay onClose={() => setHelp(false)} />}
      {confirmEnd > 0 && <ConfirmEnd id={confirmEnd} onClose={() => setConfirmEnd(0)} />}
      {handOver && <HandOverDialog id={handOver.id} kind={handOver.kind} key={handOver.id + handOver.kind} onClose={() => setHandOver(null)} />}
      <OfferCards />
    </div>
  );
}

const availLabels: Record<Availability, string> = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };

function TopBar({ current, onHelp }: { current: number; onHelp: () => void }) {
  const me = store.me!;
  const chips = store.chips();
  const [err, setErr] = useState('');
  return (
    <header class="topbar">
      <a class="brand" href={BASE + 'active'} onClick={(e) => { e.preventDefault(); navigate('active'); }}>
        <span class="logo small" aria-hidden="true">S</span>
        <span class="brand-name">Switchboard</span>
      </a>
      <div class="chatbar" role="list" aria-label="My chats" id="chatbar">
        {chips.length === 0 && <span class="muted chatbar-empty">No chats yet</span>}
        {chips.map((c) => {
          const e = store.entries.get(c.id);
          const unread = store.unread(c.id);
          return (
            <div role="listitem" class={`chip chip-${c.kind}${c.id === current ? ' current' : ''}`} data-conv={c.id} key={c.id}>
              <button class="chip-open" onClick={() => navigate('c/' + c.id)} title={c.kind === 'incoming' ? 'Incoming: waiting for an agent' : c.kind === 'unread' ? 'Unread customer messages' : 'In this chat'}>
                <span class="dot" aria-hidden="true" />
                <span class="chip-name">{customerName(e)}</span>
                {c.kind === 'unread' && <span class="count" aria-label={`${unread} unread`}>{unread}</span>}
                <MentionMark id={c.id} />
              </button>
              {c.kind === 'incoming' && me.role !== 'supervisor' && (
                <button class="chip-join" onClick={() => client.join(c.id).then(() => navigate('c/' + c.id), (x) => setErr(errText(x)))}>
                  Join
                </button>
              )}
            </div>
          );
        })}
      </div>
      {err && <span class="topbar-error" role="alert" onClick={() => setErr('')}>{err}</span>}
      <CapacityControl onErr={setErr} />
      <label class={`availability avail-${me.availability}`}>
        <span class="dot" aria-hidden="true" />
        <span class="sr-only">Availability</span>
        <select id="availability" value={me.availability} onChange={(e) => client.setAvailability((e.currentTarget as HTMLSelectElement).value as Availability).catch((x) => setErr(errText(x)))}>
          {(Object.keys(availLabels) as Availability[]).map((a) => (
            <option value={a} key={a}>{availLabels[a]}</option>
          ))}
        </select>
      </label>
      {prefs().desktop && notificationsState() === 'default' && (
        <button class="btn ghost small" id="enable-notifications" onClick={() => void askNotifications().then(() => store.changed())} title="Get desktop notifications for new chats and new messages (Preferences has the details)">
          Enable notifications
        </button>
      )}
      <button class="btn ghost icon" onClick={onHelp} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">?</button>
      <div class="me" title={me.email}>
        {me.avatar_url
          ? <img class="avatar" src={me.avatar_url} alt="" />
          : <span class="avatar" aria-hidden="true">{initials(me.name)}</span>}
        <button class="btn ghost" id="signout" onClick={() => void client.signOut()}>Sign out</button>
      </div>
    </header>
  );
}

function initials(n: string): string {
  return n.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]!.toUpperCase()).join('') || '?';
}

function Nav({ section }: { section: string }) {
  const active = store.activeChats().length;
  const queued = store.queue().length;
  const item = (key: string, label: string, badge?: ComponentChildren) => (
    <li>
      <a href={BASE + key} class={section === key ? 'nav-item current' : 'nav-item'} aria-current={section === key ? 'page' : undefined} id={'nav-' + key}
        onClick={(e) => { e.preventDefault(); navigate(key); }}>
        <span>{label}</span>
        {badge}
      </a>
    </li>
  );
  return (
    <nav class="nav" aria-label="Sections">
      <ul>
        {item('active', 'Active chats', active > 0 ? <span class="badge red" id="active-badge" aria-label={`${active} active`}>{active}</span> : null)}
        {item('queue', 'Queue', queued > 0 ? <span class="badge" id="queue-badge">{queued}</span> : null)}
        {item('inbox', 'Inbox')}
        {item('history', 'History')}
        {item('tickets', 'Tickets')}
        {(store.me?.role === 'admin' || store.me?.role === 'supervisor') && item('supervise', 'Supervise', queued > 0 ? <span class="badge red" id="supervise-badge" aria-label={`${queued} waiting`}>{queued}</span> : null)}
        {store.me?.role === 'admin' && item('settings', 'Settings')}
      </ul>
      <ul class="nav-personal" aria-label="Mine">
        {item('quick-replies', 'Quick replies')}
        {item('preferences', 'Preferences')}
      </ul>
    </nav>
  );
}

// ---------- lists ----------

function ActiveScreen() {
  const rows = store.activeChats();
  return (
    <section aria-labelledby="active-title" class="screen">
      <div class="screen-head">
        <h1 id="active-title">Active chats</h1>
        <p class="muted">Live chats whose customer is on the site now. Updates as it happens.</p>
      </div>
      {rows.length === 0 ? (
        <Empty title="No live chats right now" text="When a visitor asks for a human, the chat appears here and in the bar above." />
      ) : (
        <ul class="rows" role="list" id="active-list" aria-label="Active chats">
          {rows.map((e) => <ChatRow e={e} key={e.conv.id} />)}
        </ul>
      )}
    </section>
  );
}

function ChatRow({ e }: { e: Entry }) {
  const c = e.conv;
  const unread = store.isMine(c.id) ? store.unread(c.id) : 0;
  return (
    <li class="row" data-conv={c.id}>
      <a class="row-link" href={BASE + 'c/' + c.id} onClick={(ev) => { ev.preventDefault(); navigate('c/' + c.id); }}>
        <span class="row-who">
          {!isTextChannel(c.channel) && <span class="live-dot" title="On the site now" aria-label="On the site now" />}
          <span class="row-name">{customerName(e)}</span>
          {unread > 0 && <span class="count orange">{unread}</span>}
          <MentionMark id={c.id} />
        </span>
        <span class="row-preview">{c.preview || '—'}</span>
        <span class="row-meta">
          <ChannelBadge c={c} />
          <StatePill state={c.chat_state} />
          <PriorityTag p={c.priority} />
          <span class="row-assignee">{store.nameOf(c.assignee_id)}</span>
          <span class="row-time" title={c.updated_at}>{ago(c.updated_at)}</span>
        </span>
      </a>
    </li>
  );
}

function QueueScreen() {
  const rows = store.queue();
  const [err, setErr] = useState('');
  return (
    <section class="screen" aria-labelledby="queue-title">
      <div class="screen-head">
        <h1 id="queue-title">Queue</h1>
        <p class="muted">Waiting and offered chats, oldest first — the order they should be served.</p>
      </div>
      {err && <p class="form-error" role="alert">{err}</p>}
      {rows.length === 0 ? (
        <Empty title="Nobody is waiting" text="Customers waiting for an agent show up here with their wait time." />
      ) : (
        <ol class="rows" id="queue-list" aria-label="Queue">
          {rows.map((e, i) => (
            <li class="row" key={e.conv.id} data-conv={e.conv.id}>
              <span class="row-pos">{i + 1}</span>
              <a class="row-link" href={BASE + 'c/' + e.conv.id} onClick={(ev) => { ev.preventDefault(); navigate('c/' + e.conv.id); }}>
                <span class="row-who"><span class="row-name">{customerName(e)}</span><MentionMark id={e.conv.id} /></span>
                <span class="row-preview">{e.conv.preview || '—'}</span>
                <span class="row-meta">
                  <ChannelBadge c={e.conv} />
                  <StatePill state={e.conv.chat_state} />
                  <PriorityTag p={e.conv.priority} />
                  <span class="row-time">waiting {ago(e.chat?.chat.requested_at ?? e.conv.created_at).replace('just now', '< 1 min')}</span>
                </span>
              </a>
              {store.me?.role !== 'supervisor' && <button class="btn primary small" onClick={() => client.join(e.conv.id).then(() => navigate('c/' + e.conv.id), (x) => setErr(errText(x)))}>Join</button>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function ListScreen({ mode }: { mode: 'inbox' | 'history' }) {
  const [status, setStatus] = useState(mode === 'history' ? 'closed' : 'open');
  const [assignee, setAssignee] = useState('');
  const [tag, setTag] = useState('');
  const [priority, setPriority] = useState('');
  const [site, setSite] = useState('');
  const [input, setInput] = useState(''); // the search box; query is what was searched
  const [query, setQuery] = useState('');
  const [ids, setIds] = useState<number[]>([]);
  const [cursor, setCursor] = useState('');
  const [loading, setLoading] = useState(true);
  const [err, setErr] = useState('');
  const sites = useSites();
  const tooLong = queryError(input);
  const params = { status, assignee, tag: tag.trim().toLowerCase(), priority, site_id: site, q: query, limit: 50 };

  // the search runs 300 ms after typing stops (Enter: at once)
  useEffect(() => {
    if (tooLong) return;
    const t = setTimeout(() => setQuery(input.trim()), 300);
    return () => clearTimeout(t);
  }, [input]);

  const load = async (more: boolean) => {
    setLoading(true);
    setErr('');
    try {
      const page = await client.list({ ...params, cursor: more ? cursor : undefined });
      const got = page.conversations.map((c) => c.id);
      setIds((prev) => (more ? [...prev, ...got] : got));
      setCursor(page.next_cursor);
    } catch (e) {
      setErr(errText(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(false);
  }, [status, assignee, params.tag, priority, site, query]);

  // keep the list in step with pushed conversation events
  const rows = ids.map((id) => store.entries.get(id)).filter((e): e is Entry => !!e && (!status || e.conv.status === status));
  const title = mode === 'history' ? 'History' : 'Inbox';
  return (
    <section class="screen" aria-labelledby="tickets-title">
      <div class="screen-head">
        <h1 id="tickets-title">{title}</h1>
        <p class="muted">{mode === 'history' ? 'Closed chats and tickets.' : 'Tickets that need action.'}</p>
      </div>
      <form class="filters" role="search" onSubmit={(e) => { e.preventDefault(); if (!tooLong) setQuery(input.trim()); }} aria-label="Filters">
        <label class="grow">Search
          <input id="filter-q" type="search" value={input} placeholder="Name, email or words from a message" aria-describedby="filter-q-error"
            aria-invalid={tooLong ? true : undefined} onInput={(e) => setInput((e.currentTarget as HTMLInputElement).value)} />
        </label>
        {sites.length > 1 && (
          <label>Site
            <select id="filter-site" value={site} onChange={(e) => setSite((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">All my sites</option>
              {sites.map((s) => <option value={String(s.id)} key={s.id}>{s.name}</option>)}
            </select>
          </label>
        )}
        {mode === 'inbox' && (
          <label>Status
            <select id="filter-status" value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value)}>
              <option value="open">Open</option>
              <option value="pending">Pending</option>
              <option value="closed">Closed</option>
              <option value="">Any</option>
            </select>
          </label>
        )}
        <label>Assignee
          <select id="filter-assignee" value={assignee} onChange={(e) => setAssignee((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">Anyone</option>
            <option value="me">Me</option>
            <option value="none">Unassigned</option>
          </select>
        </label>
        <label>Priority
          <select id="filter-priority" value={priority} onChange={(e) => setPriority((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">Any</option>
            <option value="urgent">Urgent</option>
            <option value="high">High</option>
            <option value="normal">Normal</option>
            <option value="low">Low</option>
          </select>
        </label>
        <label>Tag
          <input id="filter-tag" type="search" placeholder="e.g. shipping" value={tag} onChange={(e) => setTag((e.currentTarget as HTMLInputElement).value)} />
        </label>
      </form>
      {tooLong && <p class="form-error" id="filter-q-error" role="alert">{tooLong}</p>}
      {err && <p class="form-error" role="alert">{err}</p>}
      {!loading && rows.length === 0 ? (
        <Empty title={query ? `Nothing matches “${query}”` : mode === 'history' ? 'No closed conversations' : 'Nothing needs action'} text={query ? 'Try other words or filters.' : 'Try other filters.'} />
      ) : (
        <ul class="rows" id={mode + '-list'} aria-label={title} aria-busy={loading}>
          {rows.map((e) => <TicketRow e={e} key={e.conv.id} history={mode === 'history'} />)}
        </ul>
      )}
      {cursor && (
        <button class="btn" disabled={loading} onClick={() => void load(true)}>Load more</button>
      )}
    </section>
  );
}

// useSites loads the sites I belong to once (for the site filter).
let sitesCache: Promise<Site[]> | null = null;
function useSites(): Site[] {
  const [sites, setSites] = useState<Site[]>([]);
  useEffect(() => {
    sitesCache ??= api<{ sites: Site[] }>('GET', '/sites').then((r) => r.sites, () => ((sitesCache = null), []));
    let live = true;
    void sitesCache.then((s) => live && setSites(s));
    return () => {
      live = false;
    };
  }, []);
  return sites;
}

function TicketRow({ e, history }: { e: Entry; history: boolean }) {
  const c: Conversation = e.conv;
  const offline = !c.chat_id;
  return (
    <li class={offline ? 'row ticket-offline' : 'row'} data-conv={c.id}>
      <a class="row-link" href={BASE + 'c/' + c.id} onClick={(ev) => { ev.preventDefault(); navigate('c/' + c.id); }}>
        <span class="row-who">
          {store.isOnline(c.contact_id) && <span class="live-dot" title="On the site now" aria-label="On the site now" />}
          <span class="row-name">{customerName(e)}</span>
          <MentionMark id={c.id} />
        </span>
        <span class="row-preview">{c.preview || '—'}</span>
        <span class="row-meta">
          <ChannelBadge c={c} />
          {offline && c.channel === 'widget' && <span class="pill offline-msg" title="Left with the offline form while no one could chat">Offline message</span>}
          {history && (store.ratingOf(c.id) ? <RatingBadge id={c.id} /> : <span class="rating none">{e.chat?.chat.state === 'ended' ? 'Not rated' : ''}</span>)}
          <span class={`pill status-${c.status}`}>{c.status}</span>
          <PriorityTag p={c.priority} />
          {c.tags.map((t) => <span class="tag" key={t}>{t}</span>)}
          <span class="row-assignee">{store.nameOf(c.assignee_id)}</span>
          <span class="row-time" title={c.updated_at}>{ago(c.updated_at)}</span>
        </span>
      </a>
    </li>
  );
}

// ---------- conversation ----------

function ConversationScreen({ id, onEnd, onHandOver }: { id: number; onEnd: () => void; onHandOver: (k: HandOverKind) => void }) {
  const [err, setErr] = useState('');
  useEffect(() => {
    void client.open(id);
    return () => client.close();
  }, [id]);
  const e = store.entries.get(id);
  if (!e) return <div class="screen"><p class="muted" aria-busy="true">Loading conversation…</p></div>;
  const c = e.conv;
  const live = store.isLive(id);
  const mine = store.isMine(id);
  const incoming = store.isIncoming(id);
  const presence = store.presenceOf(c.contact_id);
  const role = store.me?.role;
  const readOnly = role === 'supervisor'; // notes and assigning, never the customer
  const canEnd = live && (mine || role === 'admin');
  const offer = store.offerFor(id);
  const handOff = mine && c.chat_state === 'active';
  const canAssign = (role === 'supervisor' || role === 'admin') && (incoming || c.chat_state === 'active');
  const takenBy = c.chat_state === 'active' && !mine ? (e.chat?.participants ?? []).filter((p) => !isSet(p.left_at)).map((p) => p.name).join(', ') : '';
  const act = (p: Promise<unknown>) => p.then(() => setErr(''), (x) => setErr(errText(x)));

  return (
    <div class="conversation">
      <section class="conv-main" aria-labelledby="conv-title">
        <header class="conv-head">
          <button class="btn ghost back" onClick={() => history.length > 1 ? history.back() : navigate('active')} aria-label="Back">←</button>
          <div class="conv-title">
            <h1 id="conv-title">{customerName(e)}</h1>
            <div class="conv-sub">
              <ChannelBadge c={c} id="conv-channel" />
              {!isTextChannel(c.channel) && (presence ? <span class="badge green" id="live-badge">Live</span> : <span class="badge grey">Offline</span>)}
              {presence && presence.minimized && <span class="muted">widget minimised</span>}
              {presence && presence.url && <span class="muted ellipsis" title={presence.url}>on {presence.title || presence.url}</span>}
              <StatePill state={c.chat_state} />
              <RatingBadge id={id} />
              {takenBy && <span class="taken" id="taken-by">Taken by {takenBy}</span>}
              {readOnly && <span class="badge grey" id="read-only" title="Supervisors read conversations and add internal notes; they do not write to customers">Read-only</span>}
            </div>
          </div>
          <div class="conv-actions">
            {offer && <button class="btn primary" id="accept-offer" onClick={() => act(client.accept(id))}>Accept</button>}
            {offer && <button class="btn" id="decline-offer" onClick={() => act(client.decline(id))}>Decline</button>}
            {incoming && !offer && !readOnly && <button class="btn primary" id="join" onClick={() => act(client.join(id))}>Join chat</button>}
            {handOff && <button class="btn" id="transfer" onClick={() => onHandOver('transfer')} title="Transfer (Alt+T)">Transfer</button>}
            {handOff && <button class="btn" id="invite" onClick={() => onHandOver('invite')}>Invite</button>}
            {canAssign && <button class="btn" id="assign" onClick={() => onHandOver('assign')}>Assign</button>}
            {mine && <button class="btn" id="leave" onClick={() => act(client.leave(id))}>Leave</button>}
            {canEnd && <button class="btn danger" id="end-chat" onClick={onEnd}>End chat</button>}
          </div>
        </header>
        {err && <p class="form-error conv-error" role="alert">{err}</p>}
        <Timeline id={id} />
        <Composer id={id} canReply={mine && !readOnly} notesOnly={readOnly} live={live} incoming={incoming || !!offer} offline={!c.chat_id} email={(e.contact ?? e.brief)?.email ?? ''}
          phone={(e.contact ?? e.brief)?.phone ?? ''} channel={c.channel} onJoin={() => act(offer ? client.accept(id) : client.join(id))} />
      </section>
      <CustomerPanel e={e} onErr={setErr} />
    </div>
  );
}

// useObjectURL is a blob: URL for a file (image previews), revoked when the
// file changes or the component goes.
function useObjectURL(f: File | null): string {
  const [url, setURL] = useState('');
  useEffect(() => {
    if (!f) return setURL('');
    const u = URL.createObjectURL(f);
    setURL(u);
    return () => URL.revokeObjectURL(u);
  }, [f]);
  return url;
}

interface ComposerProps {
  id: number;
  canReply: boolean;
  notesOnly: boolean; // a supervisor: internal notes only
  live: boolean;
  incoming: boolean;
  offline: boolean;
  email: string;
  phone: string;
  channel: string;
  onJoin: () => void;
}

function Composer({ id, canReply, notesOnly, live, incoming, offline, email, phone, channel, onJoin }: ComposerProps) {
  // a reply goes by text (SMS / WhatsApp) in my chat with a customer who
  // texted in (the widget cannot reach them), and after a chat ended or an
  // offline message, when the customer has a phone
  const textChat = isTextChannel(channel);
  const textable = !!phone && !notesOnly && !incoming && (canReply ? textChat : !live);
  const replyOK = !notesOnly && (canReply || textable);
  const [note, setNote] = useState(!replyOK);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [dragging, setDragging] = useState(false);
  const preview = useObjectURL(file && file.type.startsWith('image/') ? file : null);
  const ta = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const typingSent = useRef(0);
  const stopTimer = useRef(0);
  const quick = useQuickMenu(ta, text, (v) => onInput(v), 'composer');
  const mention = useMentionMenu(ta, text, (v) => onInput(v), 'composer', note);
  const menu = bothMenus(quick, mention);

  useEffect(() => setNote(!replyOK), [replyOK]);
  useEffect(() => ta.current?.focus(), [id, canReply]);

  const stopTyping = () => {
    clearTimeout(stopTimer.current);
    if (typingSent.current) {
      typingSent.current = 0;
      client.typing(id, false);
    }
  };
  useEffect(() => stopTyping, [id]);

  const onInput = (v: string) => {
    setText(v);
    if (note || !canReply) return;
    const now = Date.now();
    if (v.trim() && now - typingSent.current > 2000) {
      typingSent.current = now;
      client.typing(id, true);
    }
    clearTimeout(stopTimer.current);
    stopTimer.current = window.setTimeout(stopTyping, 4000);
    if (!v.trim()) stopTyping();
  };

  const submit = async () => {
    const body = text;
    if ((!body.trim() && !file) || busy) return;
    if (!note && !canReply) return;
    setBusy(true);
    setErr('');
    try {
      let att: number | undefined;
      if (file && !note) att = await client.upload(id, file);
      await client.send(id, body, note, att, note ? mention.ids() : []);
      setText('');
      setFile(null);
      stopTyping();
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
      ta.current?.focus();
    }
  };

  const replyBlocked = !note && !canReply;
  const byText = !note && textable;
  const tabs = (
    <div class="composer-tabs" role="tablist" aria-label="Write">
      {!notesOnly && <button type="button" role="tab" aria-selected={!note} id="mode-reply" class={!note ? 'tab current' : 'tab'} onClick={() => setNote(false)}>{textable ? 'Text the customer' : 'Reply'}</button>}
      <button type="button" role="tab" aria-selected={note} id="mode-note" class={note ? 'tab current' : 'tab'} onClick={() => setNote(true)}>Internal note</button>
      <span class="muted composer-hint">{byText ? 'Ctrl+Enter to send' : 'Enter to send · Shift+Enter for a new line'}</span>
    </div>
  );
  if (byText) {
    return (
      <div class="composer">
        {tabs}
        {!canReply && (
          <p class="text-note muted" id={offline ? 'offline-reply-note' : 'ended-reply-note'}>
            {offline ? 'Left with the offline form: there is no chat to reply in.' : 'This chat has ended.'} Text the customer
            {email ? <>, or reply to {email} by email from <a {...linkProps('t/' + id)} class="open-ticket">the ticket</a>.</> : '.'}
          </p>
        )}
        <TextComposer id={id} key={id} phone={phone} initial={textChat ? channel : 'sms'} autoFocus />
      </div>
    );
  }
  // a file dropped on the reply box is attached (replies only: notes carry none)
  const canAttach = !note && !replyBlocked;
  const drop = canAttach ? {
    onDragOver: (e: DragEvent) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      setDragging(true);
    },
    onDragLeave: (e: DragEvent) => {
      if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) setDragging(false);
    },
    onDrop: (e: DragEvent) => {
      const f = [...(e.dataTransfer?.files ?? [])][0];
      setDragging(false);
      if (!f) return;
      e.preventDefault();
      setFile(f);
      ta.current?.focus();
    },
  } : {};
  return (
    <form class={(note ? 'composer note-mode' : 'composer') + (dragging ? ' dragging' : '')} onSubmit={(e) => { e.preventDefault(); void submit(); }} aria-label="Composer" {...drop}>
      {tabs}
      {replyBlocked ? (
        <div class="composer-blocked">
          {incoming ? (
            <><span>Join the chat to reply to the customer.</span> <button type="button" class="btn primary small" onClick={onJoin}>Join chat</button></>
          ) : offline ? (
            <span id="offline-reply-note">
              This message was left with the offline form, so there is no chat to reply in.
              {email ? <> Reply to {email} by email from <a {...linkProps('t/' + id)} class="open-ticket">the ticket</a>. </> : ' The customer left no email address, so there is no way to answer them. '}
              You can add internal notes for your team.
            </span>
          ) : live ? (
            <span>Another agent is in this chat. You can add internal notes.</span>
          ) : (
            <span id="ended-reply-note">
              This chat has ended.
              {email ? <> Reply to {email} by email from <a {...linkProps('t/' + id)} class="open-ticket">the ticket</a>, or add internal notes here.</> : ' You can add internal notes.'}
            </span>
          )}
        </div>
      ) : (
        <>
          {menu.popup}
          <textarea id="composer-input" ref={ta} rows={3} value={text}
            placeholder={note ? 'Internal note — only your team sees this. Type @ to mention a colleague, / for quick replies' : 'Write a reply… Type / for quick replies'}
            aria-label={note ? 'Internal note' : 'Reply to the customer'}
            {...menu.attrs}
            onInput={(e) => {
              onInput((e.currentTarget as HTMLTextAreaElement).value);
              menu.sync();
            }}
            onKeyDown={(e) => {
              if (menu.onKeyDown(e)) return;
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                void submit();
              }
            }}
            onPaste={(e) => {
              const f = [...(e.clipboardData?.files ?? [])][0];
              if (f && !note) {
                e.preventDefault();
                setFile(f);
              }
            }}
            onBlur={() => {
              stopTyping();
              menu.blur();
            }}
          />
          <div class="composer-foot">
            {!note && (
              <>
                <input type="file" ref={fileInput} class="sr-only" id="file-input" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} />
                <button type="button" class="btn ghost small" onClick={() => fileInput.current?.click()} title="Attach a file — or drop it on the reply box, or paste it">Attach file</button>
                {file && <span class="file-chip" id="file-chip">{preview && <img src={preview} alt="" />}{file.name} <button type="button" class="btn ghost small" aria-label="Remove attachment" onClick={() => setFile(null)}>×</button></span>}
              </>
            )}
            {err && <span class="form-error inline" role="alert">{err}</span>}
            <button type="submit" class={note ? 'btn note-btn' : 'btn primary'} id="send" disabled={busy}>{note ? 'Add note' : 'Send'}</button>
          </div>
        </>
      )}
    </form>
  );
}

function CustomerPanel({ e, onErr }: { e: Entry; onErr: (s: string) => void }) {
  const c = e.conv;
  const contact = e.contact;
  const presence = store.presenceOf(c.contact_id);
  const chat = e.chat?.chat;
  const attrs = Object.entries(contact?.attributes ?? {});
  const vattrs = Object.entries(contact?.visitor_attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const visits = useVisits(c.contact_id);
  return (
    <aside class="customer" aria-label="Customer">
      <section class="panel">
        <h2>Customer</h2>
        <dl>
          <dt>Name</dt><dd id="customer-name">{contact?.name || '—'}</dd>
          <dt>Email</dt><dd id="customer-email">{contact?.email || (contact?.phone ? 'None given' : 'Anonymous')}</dd>
          {contact?.phone && <><dt>Phone</dt><dd id="customer-phone">{contact.phone}</dd></>}
          {attrs.map(([k, v]) => (<Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>))}
          <dt>Current page</dt>
          <dd id="customer-page" class="ellipsis">{presence ? (presence.url ? <span title={presence.url}>{presence.title || presence.url}</span> : 'On the site') : 'Not on the site'}</dd>
          {presence && <><dt>Widget</dt><dd>{presence.minimized ? 'Minimised' : 'Open'}{presence.visible ? '' : ' · tab hidden'}</dd></>}
          <VisitFacts v={visits.v} />
        </dl>
        {vattrs.length > 0 && (
          <section class="visitor-attrs" id="customer-visitor-attrs" aria-labelledby="customer-visitor-attrs-title">
            <h3 id="customer-visitor-attrs-title">Provided by the visitor <span class="muted">(unverified)</span></h3>
            <dl>{vattrs.map(([k, v]) => (<Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>))}</dl>
          </section>
        )}
      </section>
      <section class="panel">
        <h2 class="panel-head">Ticket <a {...linkProps('t/' + c.id)} id="open-ticket-view" class="small-link">Open ticket view</a></h2>
        <TicketFields c={c} onErr={onErr} />
        <dl>
          <dt>Status</dt><dd>{c.status}</dd>
          <dt>Assignee</dt><dd id="assignee">{store.nameOf(c.assignee_id)}</dd>
          {isTextChannel(c.channel) ? <><dt>Channel</dt><dd>{textLabel[c.channel]}</dd></> : !c.chat_id && <><dt>Channel</dt><dd>Offline message</dd></>}
          {chat && <><dt>Rating</dt><dd id="customer-rating">{chat.rating ? <><RatingBadge id={c.id} /> {chat.rating}/5{chat.rating_comment && <q class="rating-comment">{chat.rating_comment}</q>}</> : <span class="muted">{chat.state === 'ended' ? 'Not rated yet' : '—'}</span>}</dd></>}
          {chat && <><dt>Waited</dt><dd>{duration(chat.requested_at, isSet(chat.first_joined_at) ? chat.first_joined_at : chat.ended_at)}</dd></>}
          {chat && isSet(chat.first_joined_at) && <><dt>Duration</dt><dd>{duration(chat.first_joined_at, chat.ended_at)}</dd></>}
          <dt>Started</dt><dd>{clock(c.created_at)}</dd>
        </dl>
      </section>
      {!isTextChannel(c.channel) && <VisitHistory contactId={c.contact_id} v={visits.v} err={visits.err} />}
      <CustomerHistory contactId={c.contact_id} current={c.id} />
    </aside>
  );
}

// ---------- overlays ----------

// MentionBannerView: "Sue mentioned you in <conversation>", for a while.
function MentionBannerView() {
  const m = client.mention!;
  const e = store.entries.get(m.convId);
  const link = linkProps('c/' + m.convId);
  return (
    <div class="banner notice mention-banner" role="status" id="mention-banner" data-conv={m.convId}>
      <span>
        <strong>{m.author}</strong> mentioned you in{' '}
        <a href={link.href} id="mention-link" onClick={(ev) => { link.onClick(ev); client.dismissMention(); }}>{e ? customerName(e) : 'a conversation'}</a>
      </span>
      <button class="btn ghost small" onClick={() => client.dismissMention()} aria-label="Dismiss this mention">Dismiss</button>
    </div>
  );
}

function ConfirmEnd({ id, onClose }: { id: number; onClose: () => void }) {
  const [err, setErr] = useState('');
  const e = store.entries.get(id);
  return (
    <Modal title="End this chat?" onClose={onClose} id="confirm-end">
      <p>The chat with <strong>{customerName(e)}</strong> ends for everyone and the customer is told. The conversation stays in History.</p>
      {err && <p class="form-error" role="alert">{err}</p>}
      <div class="modal-actions">
        <button class="btn" onClick={onClose}>Cancel</button>
        <button class="btn danger" id="confirm-end-yes" data-autofocus onClick={() => client.end(id).then(onClose, (x) => setErr(errText(x)))}>End chat</button>
      </div>
    </Modal>
  );
}

const shortcuts: [string, string][] = [
  ['?', 'Show or hide this help'],
  ['Enter', 'Send the message'],
  ['Shift + Enter', 'New line in the message'],
  ['Ctrl + Enter', 'Send a ticket’s email reply or note'],
  ['Alt + ↓ / Alt + ↑', 'Next / previous chat in the bar'],
  ['Alt + J', 'Join the open chat, or accept the chat offered to you'],
  ['Alt + T', 'Transfer the open chat'],
  ['Alt + E', 'End the open chat (asks first)'],
  ['Alt + A', 'Switch availability'],
  ['Alt + 1 … 6', 'Active chats, Queue, Inbox, History, Tickets, Settings (admins)'],
  ['Alt + 7 / Alt + 8', 'Quick replies, Preferences'],
  ['Alt + 9', 'Supervise (supervisors and admins)'],
  ['/', 'In a reply box: insert a quick reply (↑ ↓ to choose, Enter or Tab to insert, Esc to close)'],
  ['@', 'In an internal note: mention a colleague, who is notified (↑ ↓ to choose, Enter or Tab to insert, Esc to close)'],
  ['Esc', 'Close a dialog'],
];

function HelpOverlay({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose} id="help" wide>
      <table class="shortcuts">
        <tbody>
          {shortcuts.map(([k, d]) => (
            <tr key={k}><td><kbd>{k}</kbd></td><td>{d}</td></tr>
          ))}
        </tbody>
      </table>
      <div class="modal-actions help-actions"><button class="btn" data-autofocus onClick={onClose}>Close</button></div>
    </Modal>
  );
}
