// The Tickets view: Unassigned, Assigned and Closed lists with one search
// box, and a ticket (t/{id}) with its whole timeline, the mail log, the
// customer's other conversations, the ticket's actions and a reply box that
// answers by email. Lists and the open ticket follow the conversation and
// message events, so changes made in other consoles show up at once.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, store } from './client';
import { ChannelBadge, Empty, MentionMark, PriorityTag, TicketFields } from './bits';
import { isTextChannel, textLabel } from './channels';
import { TextComposer } from './text';
import { linkProps, navigate } from './route';
import { Timeline } from './timeline';
import { useQuickMenu } from './quickmenu';
import { useMentionMenu } from './mentionmenu';
import { bothMenus } from './picker';
import { errText } from './ui';
import { ago, clock, customerName } from './util';
import type { Conversation, OutboxMail, TicketStatus } from './types';
import { VisitPanels } from './visits';
import { belongs, groupByAssignee, isLiveConv, Pager, queries, queryError, tabOf, type Tab } from './ticketlist';

export const ticketTab = tabOf;

// what the lists remember while the agent opens tickets and comes back
const memory = { q: '', mine: false };

const tabText: Record<Tab, { label: string; empty: string; emptyText: string }> = {
  unassigned: { label: 'Unassigned', empty: 'No unassigned tickets', emptyText: 'Offline messages and chats that ended without an owner land here.' },
  assigned: { label: 'Assigned', empty: 'No assigned tickets', emptyText: 'Tickets someone owns and has not closed yet.' },
  closed: { label: 'Closed', empty: 'No closed tickets', emptyText: 'Closed tickets, grouped by the agent who owned them.' },
};

// useReconnected calls fn when the staff socket comes back after a drop:
// the events sent meanwhile are lost, so what is on screen is fetched again.
function useReconnected(fn: () => void): void {
  const was = useRef(client.socketState);
  const now = client.socketState;
  useEffect(() => {
    const back = now === 'open' && was.current !== 'open';
    was.current = now;
    if (back) fn();
  }, [now]);
}

// fullName is an agent's name as the colleagues know it ("Alice Agent (you)").
function fullName(id: number): string {
  const n = store.staffNames.get(id) ?? store.nameOf(id);
  return store.me && id === store.me.id ? `${n} (you)` : n;
}

export function TicketsScreen({ tab }: { tab: Tab }) {
  const [input, setInput] = useState(memory.q);
  const [query, setQuery] = useState(memory.q.trim());
  const [mine, setMine] = useState(memory.mine);
  // the pager on screen: a new one (another tab, search or toggle) takes
  // its place once its first pages are in, so the list never flashes empty
  const [pager, setPager] = useState<Pager | null>(null);
  const [, setTick] = useState(0);
  const [loading, setLoading] = useState(false);
  const [err, setErr] = useState('');
  const current = useRef<Pager | null>(null);
  const me = store.me?.id ?? 0;
  const tooLong = queryError(input);

  // the search runs 300 ms after typing stops (Enter: at once)
  useEffect(() => {
    memory.q = input;
    if (queryError(input)) return;
    const t = setTimeout(() => setQuery(input.trim()), 300);
    return () => clearTimeout(t);
  }, [input]);

  const inTab = (c: Conversation) => belongs(tab, mine, me, c);
  const visible = (p: Pager): Conversation[] => {
    const ids = new Set(p.ids);
    // without a search, conversations that events brought in belong too
    if (!query) for (const id of store.entries.keys()) ids.add(id);
    const convs: Conversation[] = [];
    for (const id of ids) {
      const e = store.entries.get(id);
      if (e) convs.push(e.conv);
    }
    return p.rows(convs, inTab);
  };

  // load fetches pages until a screenful is shown (rows the tab filters
  // out, live chats for one, can make a page come out short)
  const load = async (p: Pager) => {
    current.current = p;
    setLoading(true);
    setErr('');
    try {
      const had = p.started ? visible(p).length : 0;
      for (let round = 0; round < 5; round++) {
        await p.next((params) => client.list(params));
        if (current.current !== p) return;
        if (!p.more || visible(p).length - had >= 20) break;
      }
    } catch (x) {
      if (current.current === p) setErr(errText(x));
    } finally {
      if (current.current === p) {
        setPager(p);
        setTick((n) => n + 1);
        setLoading(false);
      }
    }
  };

  useEffect(() => {
    void load(new Pager(queries(tab, mine, query)));
  }, [tab, mine, query]);
  useReconnected(() => void load(new Pager(queries(tab, mine, query))));

  const rows = pager ? visible(pager) : [];
  const t = tabText[tab];
  return (
    <section class="screen tickets" aria-labelledby="tickets-title">
      <div class="screen-head">
        <h1 id="tickets-title">Tickets</h1>
        <p class="muted">Every conversation continues as a ticket, by email. Changes from your colleagues show up as they happen.</p>
      </div>
      <div class="tabs" role="tablist" aria-label="Tickets">
        {(['unassigned', 'assigned', 'closed'] as Tab[]).map((k) => (
          <a role="tab" id={'tab-' + k} key={k} aria-selected={k === tab} class={k === tab ? 'tab current' : 'tab'} {...linkProps('tickets/' + k)}>
            {tabText[k].label}
          </a>
        ))}
      </div>
      <form class="filters" role="search" onSubmit={(e) => { e.preventDefault(); if (!tooLong) setQuery(input.trim()); }}>
        <label class="grow">Search
          <input id="tickets-q" type="search" value={input} placeholder="Name, email or words from a message" aria-describedby="tickets-q-error"
            aria-invalid={!!tooLong} onInput={(e) => setInput((e.currentTarget as HTMLInputElement).value)} />
        </label>
        {tab === 'assigned' && (
          <label class="check inline-check">
            <input type="checkbox" id="mine-only" checked={mine} onChange={(e) => { const v = (e.currentTarget as HTMLInputElement).checked; memory.mine = v; setMine(v); }} />
            Mine only
          </label>
        )}
      </form>
      <p class="form-error" id="tickets-q-error" role="alert" hidden={!tooLong && !err}>{tooLong || err}</p>
      <div id="tickets-list" aria-busy={loading ? 'true' : 'false'} data-tab={tab}>
        {!loading && rows.length === 0 ? (
          <Empty title={query ? `No ${t.label.toLowerCase()} tickets match “${query}”` : t.empty} text={query ? 'Try other words, or another tab.' : t.emptyText} />
        ) : tab === 'closed' ? (
          groupByAssignee(rows, fullName).map((g) => (
            <section class="ticket-group" key={g.assignee} data-assignee={g.assignee} aria-label={`Closed by ${g.name}`}>
              <h2 class="group-head">{g.name} <span class="badge" aria-label={`${g.rows.length} tickets`}>{g.rows.length}{pager?.more ? '+' : ''}</span></h2>
              <ul class="rows">{g.rows.map((c) => <TicketListRow c={c} key={c.id} />)}</ul>
            </section>
          ))
        ) : (
          <ul class="rows" aria-label={t.label}>{rows.map((c) => <TicketListRow c={c} key={c.id} />)}</ul>
        )}
      </div>
      {pager?.more && !loading && (
        <button class="btn" id="tickets-more" onClick={() => void load(pager)}>Load more</button>
      )}
      {loading && rows.length > 0 && <p class="muted" role="status">Loading…</p>}
    </section>
  );
}

function TicketListRow({ c }: { c: Conversation }) {
  const e = store.entries.get(c.id);
  const live = isLiveConv(c);
  return (
    <li class="row" data-conv={c.id}>
      <a class="row-link" {...linkProps('t/' + c.id)}>
        <span class="row-who">
          {store.isOnline(c.contact_id) && <span class="live-dot" title="On the site now" aria-label="On the site now" />}
          <span class="row-name">{customerName(e)}</span>
          <MentionMark id={c.id} />
        </span>
        <span class="row-preview">{c.preview || '—'}</span>
        <span class="row-meta">
          <ChannelBadge c={c} />
          {!c.chat_id && c.channel === 'widget' && <span class="pill offline-msg" title="Left with the offline form">Offline message</span>}
          {live && <span class="pill state-active">Live chat</span>}
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

// ---------- one ticket ----------

export function TicketScreen({ id }: { id: number }) {
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const [missing, setMissing] = useState(false);
  useEffect(() => {
    void client.open(id).then(() => setMissing(!store.entries.get(id)?.detail));
    return () => client.close();
  }, [id]);
  useReconnected(() => void client.ensureDetail(id, true));
  const e = store.entries.get(id);
  if (!e || (missing && !e.detail)) {
    return (
      <div class="screen">
        {missing ? <Empty title="This ticket cannot be shown" text="It does not exist, or it belongs to a site you do not work on." /> : <p class="muted" aria-busy="true">Loading ticket…</p>}
      </div>
    );
  }
  const c = e.conv;
  const live = store.isLive(id);
  const act = (p: Promise<unknown>) => {
    setBusy(true);
    setErr('');
    p.then(() => {}, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const setStatus = (s: TicketStatus) => act(client.setStatus(id, s));
  const who = e.contact ?? e.brief;
  return (
    <div class="conversation ticket">
      <section class="conv-main" aria-labelledby="ticket-title">
        <header class="conv-head">
          <button class="btn ghost back" onClick={() => (history.length > 1 ? history.back() : navigate('tickets'))} aria-label="Back">←</button>
          <div class="conv-title">
            <h1 id="ticket-title">{customerName(e)}</h1>
            <div class="conv-sub">
              <span class={`pill status-${c.status}`} id="ticket-status">{c.status}</span>
              <PriorityTag p={c.priority} />
              <ChannelBadge c={c} id="ticket-channel" />
              {!c.chat_id && c.channel === 'widget' && <span class="pill offline-msg">Offline message</span>}
              {live && <a class="badge green" id="ticket-live" {...linkProps('c/' + id)} title="Open the live chat">Live chat</a>}
              <span class="muted">Assigned to <span id="ticket-assignee-name">{c.assignee_id ? fullName(c.assignee_id) : 'nobody'}</span></span>
            </div>
          </div>
          <div class="conv-actions">
            {c.status === 'closed' ? (
              <button class="btn" id="ticket-reopen" disabled={busy} onClick={() => setStatus('open')}>Reopen</button>
            ) : (
              <>
                {c.status === 'pending'
                  ? <button class="btn" id="ticket-open" disabled={busy} onClick={() => setStatus('open')} title="Back to open: it needs your action">Mark open</button>
                  : <button class="btn" id="ticket-pending" disabled={busy} onClick={() => setStatus('pending')} title="Waiting on the customer">Mark pending</button>}
                <button class="btn" id="ticket-close" disabled={busy || live} onClick={() => setStatus('closed')} title={live ? 'End the live chat first' : 'Close the ticket'}>Close</button>
              </>
            )}
          </div>
        </header>
        {err && <p class="form-error conv-error" role="alert" id="ticket-error">{err}</p>}
        <Timeline id={id} />
        <TicketComposer id={id} key={id} email={who?.email ?? ''} phone={who?.phone ?? ''} channel={c.channel} known={!!e.detail || !!who} live={live} />
      </section>
      <aside class="customer" aria-label="Ticket details">
        <section class="panel">
          <h2>Customer</h2>
          <dl>
            <dt>Name</dt><dd>{who?.name || '—'}</dd>
            <dt>Email</dt><dd id="ticket-customer-email">{who?.email || 'None given'}</dd>
            {who?.phone && <><dt>Phone</dt><dd id="ticket-customer-phone">{who.phone}</dd></>}
            <dt>On the site</dt><dd>{store.isOnline(c.contact_id) ? 'Now' : 'No'}</dd>
          </dl>
        </section>
        <AssignPanel c={c} live={live} onErr={setErr} />
        <section class="panel">
          <h2>Ticket</h2>
          <TicketFields c={c} onErr={setErr} />
          <dl>
            <dt>Status</dt><dd>{c.status}</dd>
            <dt>Channel</dt><dd>{isTextChannel(c.channel) ? `Texts by ${textLabel[c.channel]}` : c.chat_id ? 'Chat, then email' : 'Offline message, then email'}</dd>
            <dt>Started</dt><dd>{clock(c.created_at)}</dd>
            <dt>Last activity</dt><dd>{ago(c.updated_at)}</dd>
          </dl>
        </section>
        <MailLog id={id} version={`${c.updated_at}:${c.last_seq}`} />
        {!isTextChannel(c.channel) && <VisitPanels contactId={c.contact_id} />}
        <CustomerHistory contactId={c.contact_id} current={id} />
      </aside>
    </div>
  );
}

function AssignPanel({ c, live, onErr }: { c: Conversation; live: boolean; onErr: (s: string) => void }) {
  const [busy, setBusy] = useState(false);
  const me = store.me;
  const assign = (userId: number) => {
    setBusy(true);
    onErr('');
    client.setAssignee(c.id, userId).then(() => {}, (x) => onErr(errText(x))).finally(() => setBusy(false));
  };
  // who can own a ticket: agents and admins (supervisors only read)
  const people = new Map<number, string>();
  for (const m of store.staff.values()) if (m.role !== 'supervisor') people.set(m.id, fullName(m.id));
  if (me && me.role !== 'supervisor') people.set(me.id, fullName(me.id));
  if (c.assignee_id && !people.has(c.assignee_id)) people.set(c.assignee_id, fullName(c.assignee_id));
  const list = [...people].sort((a, b) => a[1].localeCompare(b[1]));
  return (
    <section class="panel" aria-labelledby="assign-title">
      <h2 id="assign-title">Assignee</h2>
      {live ? (
        <p class="hint">A live chat is assigned by joining it, or with Assign in the chat.</p>
      ) : (
        <div class="assign">
          {me && me.role !== 'supervisor' && c.assignee_id !== me.id && (
            <button class="btn small primary" id="assign-me" disabled={busy} onClick={() => assign(me.id)}>Assign to me</button>
          )}
          <label class="field">Assign to
            <select id="ticket-assignee" value={String(c.assignee_id ?? 0)} disabled={busy}
              onChange={(ev) => assign(Number((ev.currentTarget as HTMLSelectElement).value))}>
              <option value="0">Nobody (unassigned)</option>
              {list.map(([id, name]) => <option value={String(id)} key={id}>{name}</option>)}
            </select>
          </label>
        </div>
      )}
    </section>
  );
}

type TicketMode = 'email' | 'text' | 'note';

function TicketComposer({ id, email, phone, channel, known, live }: { id: number; email: string; phone: string; channel: string; known: boolean; live: boolean }) {
  // a customer who texted in (or left only a phone) is answered by text
  // first, once who they are is known, unless the agent picked a tab
  // supervisors write internal notes only
  const supervisor = store.me?.role === 'supervisor';
  const preferred: TicketMode = supervisor ? 'note' : phone && (isTextChannel(channel) || !email) ? 'text' : 'email';
  const [mode, setMode] = useState<TicketMode>(preferred);
  const picked = useRef(false);
  useEffect(() => {
    if (!picked.current) setMode(preferred);
  }, [preferred]);
  const note = mode === 'note';
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const [sent, setSent] = useState('');
  const cid = useRef(''); // kept across retries of the same text: one mail at most
  const ta = useRef<HTMLTextAreaElement>(null);
  const edit = (v: string) => {
    setText(v);
    cid.current = ''; // another text: another reply
    setSent('');
  };
  const quick = useQuickMenu(ta, text, edit, 'ticket');
  const mention = useMentionMenu(ta, text, edit, 'ticket', note);
  const menu = bothMenus(quick, mention);
  const blocked = !known ? 'loading' : supervisor ? 'supervisor' : !email ? 'no-email' : live ? 'live' : '';
  const disabled = !note && !!blocked;
  const liveHint = <>The customer is in a live chat right now: <a {...linkProps('c/' + id)}>answer them in the chat</a>.</>;

  const submit = async () => {
    const body = text;
    if (!body.trim() || busy || disabled) return;
    setBusy(true);
    setErr('');
    setSent('');
    try {
      if (note) await client.send(id, body, true, undefined, mention.ids());
      else {
        cid.current = cid.current || client.clientId();
        await client.emailReply(id, body, cid.current);
        cid.current = '';
        setSent(`Sent to ${email} by email.`);
      }
      setText('');
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };

  const tab = (m: TicketMode, tabId: string, label: string) => (
    <button type="button" role="tab" aria-selected={mode === m} id={tabId} class={mode === m ? 'tab current' : 'tab'} onClick={() => { picked.current = true; setMode(m); }}>{label}</button>
  );
  return (
    <div class={note ? 'composer note-mode' : 'composer'}>
      <div class="composer-tabs" role="tablist" aria-label="Write">
        {!supervisor && tab('email', 'ticket-mode-email', 'Reply by email')}
        {phone && !supervisor && tab('text', 'ticket-mode-text', 'Text the customer')}
        {tab('note', 'ticket-mode-note', 'Internal note')}
        <span class="muted composer-hint">Ctrl+Enter to send</span>
      </div>
      {mode === 'text' ? (
        <TextComposer id={id} phone={phone} initial={isTextChannel(channel) ? channel : 'sms'}
          blocked={supervisor ? 'Supervisors can read tickets but not write to customers. You can add internal notes.' : live ? liveHint : undefined} />
      ) : (
        <form onSubmit={(e) => { e.preventDefault(); void submit(); }} aria-label="Reply to the ticket">
          {!note && blocked && blocked !== 'loading' && (
            <p class="composer-blocked" id="email-reply-hint">
              {blocked === 'no-email' ? (
                phone ? 'This customer left no email address: text them instead, or add internal notes for your team.' : 'This customer left no email address, so a reply cannot reach them. You can add internal notes for your team.'
              ) : blocked === 'supervisor' ? (
                'Supervisors can read tickets but not write to customers. You can add internal notes.'
              ) : (
                liveHint
              )}
            </p>
          )}
          {menu.popup}
          <textarea id="ticket-input" ref={ta} rows={4} value={text} disabled={disabled}
            placeholder={note ? 'Internal note — only your team sees this. Type @ to mention a colleague, / for quick replies' : email ? `Reply to ${email} — sent by email. Type / for quick replies` : 'Reply by email'}
            aria-label={note ? 'Internal note' : 'Reply by email'}
            {...menu.attrs}
            onInput={(e) => {
              edit((e.currentTarget as HTMLTextAreaElement).value);
              menu.sync();
            }}
            onBlur={menu.blur}
            onKeyDown={(e) => {
              if (menu.onKeyDown(e)) return;
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void submit();
              }
            }}
          />
          <div class="composer-foot">
            {sent && <span class="sent-note" id="ticket-sent" role="status">{sent}</span>}
            {err && <span class="form-error inline" role="alert">{err}</span>}
            <button type="submit" id="ticket-send" class={note ? 'btn note-btn' : 'btn primary'} disabled={busy || disabled || !text.trim()}>
              {note ? 'Add note' : busy ? 'Sending…' : 'Send email'}
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

const mailKind: Record<string, string> = { transcript: 'Transcript', reply: 'Reply', confirmation: 'Confirmation', message: 'Text' };
const mailState: Record<string, string> = { pending: 'Queued', sent: 'Sent', failed: 'Failed' };

// MailLog lists the mails of the ticket. The server sends no event when a
// mail's state changes, so it is fetched again when the ticket changes and
// while a mail is still queued: every 2 s for a mail queued in the last
// minute, then every 30 s (the outbox retries after minutes).
function MailLog({ id, version }: { id: number; version: string }) {
  const [mail, setMail] = useState<OutboxMail[] | null>(null);
  const [err, setErr] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stop = false;
    client.mail(id).then(
      (m) => { if (!stop) { setMail(m); setErr(''); } },
      (x) => { if (!stop) setErr(errText(x)); },
    );
    return () => {
      stop = true;
    };
  }, [id, version, tick]);
  const pending = (mail ?? []).filter((m) => m.state === 'pending');
  useEffect(() => {
    if (!pending.length) return;
    const fresh = pending.some((m) => Date.now() - Date.parse(m.created_at) < 60000);
    const t = setTimeout(() => setTick((n) => n + 1), fresh ? 2000 : 30000);
    return () => clearTimeout(t);
  }, [mail]);
  return (
    <section class="panel" aria-labelledby="mail-title">
      <h2 id="mail-title">{(mail ?? []).some((m) => isTextChannel(m.transport)) ? 'Mail and texts' : 'Mail'}</h2>
      {err && <p class="form-error inline" role="alert">{err}</p>}
      {mail && mail.length === 0 && <p class="muted small">Nothing sent yet.</p>}
      <ol class="mail-log" id="mail-log">
        {(mail ?? []).map((m) => (
          <li class={`mail mail-${m.state}`} key={m.id} data-kind={m.kind} data-state={m.state} data-transport={m.transport || 'email'}>
            <div class="mail-head">
              <span class="mail-kind">{isTextChannel(m.transport) ? textLabel[m.transport] : mailKind[m.kind] ?? m.kind}</span>
              <span class={`pill mail-state-${m.state}`}>{mailState[m.state] ?? m.state}</span>
              <time class="muted" dateTime={m.sent_at || m.created_at}>{clock(m.sent_at || m.created_at)}</time>
            </div>
            <div class="muted ellipsis" title={m.to}>to {m.to}</div>
            <div class="muted mail-attempts">{m.attempts} {m.attempts === 1 ? 'attempt' : 'attempts'}{m.state === 'pending' && m.attempts > 0 ? ', trying again' : ''}</div>
            {m.last_error && <div class="mail-error">{m.last_error}</div>}
          </li>
        ))}
      </ol>
    </section>
  );
}

// CustomerHistory lists the customer's other conversations.
export function CustomerHistory({ contactId, current }: { contactId: number; current: number }) {
  const [ids, setIds] = useState<number[] | null>(null);
  const [cursor, setCursor] = useState('');
  const [err, setErr] = useState('');
  const load = (more: boolean) =>
    client.list({ contact_id: contactId, limit: 20, cursor: more ? cursor : undefined }).then(
      (page) => {
        const got = page.conversations.map((c) => c.id);
        setIds((prev) => (more && prev ? [...prev, ...got] : got));
        setCursor(page.next_cursor);
      },
      (x) => setErr(errText(x)),
    );
  useEffect(() => {
    setIds(null);
    void load(false);
  }, [contactId]);
  const rows = (ids ?? []).filter((x) => x !== current).map((x) => store.entries.get(x)?.conv).filter((c): c is Conversation => !!c);
  return (
    <section class="panel" aria-labelledby="history-title">
      <h2 id="history-title">Customer history</h2>
      {err && <p class="form-error inline" role="alert">{err}</p>}
      {ids && rows.length === 0 && <p class="muted small">No other conversations.</p>}
      <ul class="history" id="customer-history">
        {rows.map((c) => (
          <li key={c.id} data-conv={c.id}>
            <a {...linkProps('t/' + c.id)}>
              <span class="history-head">
                <time dateTime={c.created_at}>{clock(c.created_at)}</time>
                <span class={`pill status-${c.status}`}>{c.status}</span>
                <ChannelBadge c={c} />
              </span>
              <span class="muted ellipsis">{c.preview || '—'}</span>
            </a>
          </li>
        ))}
      </ul>
      {cursor && <button class="btn small" onClick={() => void load(true)}>More</button>}
    </section>
  );
}
