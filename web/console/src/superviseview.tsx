// Supervise (supervisors and admins): every live chat of the sites they
// see, grouped by the agent who has it, with the chats nobody has yet
// first. Each row shows the customer, the chat's state, how long the
// customer has waited for an answer and the last message; it follows the
// chat, conversation and message events, so it changes as it happens.
// A row opens the conversation (read-only for supervisors: notes and
// assigning).

import { store } from './client';
import { ChannelBadge, Empty, MentionMark, PriorityTag, StatePill } from './bits';
import { isTextChannel } from './channels';
import { linkProps } from './route';
import { groupLive, waitingSince } from './supervise';
import type { Entry } from './store';
import { ago, customerName } from './util';

const availText: Record<string, string> = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };

function agentName(id: number): string {
  const n = store.staffNames.get(id) ?? store.nameOf(id);
  return store.me && id === store.me.id ? `${n} (you)` : n;
}

export function SuperviseScreen() {
  const groups = groupLive(store.entries.values(), agentName);
  const total = groups.reduce((n, g) => n + g.rows.length, 0);
  return (
    <section class="screen supervise" aria-labelledby="supervise-title">
      <div class="screen-head">
        <h1 id="supervise-title">Supervise</h1>
        <p class="muted">Every live chat on your sites, by agent. Updates as it happens. Open a chat to read it, add internal notes or assign it.</p>
      </div>
      <div id="supervise-list">
        {total === 0 ? (
          <Empty title="No live chats right now" text="Chats show up here as soon as a customer asks for one, under the agent who takes it." />
        ) : (
          groups.map((g) => {
            const a = g.agentId ? store.staff.get(g.agentId)?.availability : undefined;
            const head = `supervise-group-${g.agentId}`;
            return (
              <section class="ticket-group supervise-group" key={g.agentId} data-agent={g.agentId} aria-labelledby={head}>
                <h2 class="group-head" id={head}>
                  <span class="group-name">{g.name}</span>
                  {a && <span class={`agent-avail avail-${a}`}><span class="dot" aria-hidden="true" />{availText[a] ?? a}</span>}
                  <span class="badge" aria-label={`${g.rows.length} ${g.rows.length === 1 ? 'chat' : 'chats'}`}>{g.rows.length}</span>
                </h2>
                <ul class="rows">{g.rows.map((e) => <SuperviseRow e={e} key={e.conv.id} />)}</ul>
              </section>
            );
          })
        )}
      </div>
    </section>
  );
}

function SuperviseRow({ e }: { e: Entry }) {
  const c = e.conv;
  const since = waitingSince(e, store.timeline(c.id));
  const wait = since ? 'waiting ' + ago(since).replace('just now', '< 1 min') : c.chat_state === 'active' ? 'answered' : '—';
  return (
    <li class="row" data-conv={c.id}>
      <a class="row-link" {...linkProps('c/' + c.id)}>
        <span class="row-who">
          {!isTextChannel(c.channel) && store.isOnline(c.contact_id) && <span class="live-dot" title="On the site now" aria-label="On the site now" />}
          <span class="row-name">{customerName(e)}</span>
          <MentionMark id={c.id} />
        </span>
        <span class="row-preview">{c.preview || '—'}</span>
        <span class="row-meta">
          <ChannelBadge c={c} />
          <StatePill state={c.chat_state} />
          <PriorityTag p={c.priority} />
          <span class={since ? 'row-wait waiting' : 'row-wait'} title={since ?? undefined}>{wait}</span>
        </span>
      </a>
    </li>
  );
}
