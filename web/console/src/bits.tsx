// Small pieces the list and conversation screens share.

import { useState } from 'preact/hooks';
import { client, store } from './client';
import { channelInfo } from './channels';
import type { Conversation, Priority } from './types';
import { errText } from './ui';
import { stars, stateLabel } from './util';

export function StatePill({ state }: { state?: string }) {
  if (!state) return <span class="pill offline-msg" title="Left with the offline form while no one could chat">Offline message</span>;
  return <span class={`pill state-${state}`}>{stateLabel[state] ?? state}</span>;
}

export function RatingBadge({ id }: { id: number }) {
  const r = store.ratingOf(id);
  if (!r) return null;
  return (
    <span class="rating" data-rating={r.score} title={`Customer rating: ${r.score} out of 5${r.comment ? ' — “' + r.comment + '”' : ''}`} aria-label={`Rated ${r.score} out of 5`}>
      {stars(r.score)}
    </span>
  );
}

// ChannelBadge shows how the conversation reaches the customer: SMS,
// WhatsApp, the widget (a live chat) or email (a ticket).
export function ChannelBadge({ c, id }: { c: Conversation; id?: string }) {
  const ch = channelInfo(c);
  return <span class={`pill channel channel-${ch.key}`} id={id} data-channel={ch.key} title={ch.title}>{ch.label}</span>;
}

// MentionMark: a colleague @-mentioned me in a note here I have not read.
export function MentionMark({ id }: { id: number }) {
  if (!store.mentioned(id)) return null;
  return <span class="mention-mark" title="A colleague mentioned you in a note" aria-label="You were mentioned">@</span>;
}

export function PriorityTag({ p }: { p: Priority }) {
  return <span class={`prio prio-${p}`}>{p}</span>;
}

export function Empty({ title, text }: { title: string; text: string }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      <p class="muted">{text}</p>
    </div>
  );
}

// TicketFields edits a conversation's priority and tags.
export function TicketFields({ c, onErr }: { c: Conversation; onErr: (s: string) => void }) {
  const [tag, setTag] = useState('');
  const addTag = async (ev: Event) => {
    ev.preventDefault();
    const t = tag.trim().toLowerCase();
    if (!t) return;
    try {
      await client.setTags(c.id, [...c.tags.filter((x) => x !== t), t]);
      setTag('');
    } catch (x) {
      onErr(errText(x));
    }
  };
  return (
    <>
      <label class="field">Priority
        <select id="priority" value={c.priority} onChange={(ev) => client.setPriority(c.id, (ev.currentTarget as HTMLSelectElement).value).catch((x) => onErr(errText(x)))}>
          <option value="low">Low</option>
          <option value="normal">Normal</option>
          <option value="high">High</option>
          <option value="urgent">Urgent</option>
        </select>
      </label>
      <div class="field">
        <span>Tags</span>
        <ul class="tags" id="tags" aria-label="Tags">
          {c.tags.map((t) => (
            <li class="tag" key={t}>{t}
              <button class="tag-x" aria-label={`Remove tag ${t}`} onClick={() => client.setTags(c.id, c.tags.filter((x) => x !== t)).catch((x) => onErr(errText(x)))}>×</button>
            </li>
          ))}
        </ul>
        <form class="tag-form" onSubmit={addTag}>
          <input id="tag-input" value={tag} placeholder="Add a tag" aria-label="Add a tag" maxLength={50} onInput={(ev) => setTag((ev.currentTarget as HTMLInputElement).value)} />
          <button class="btn small" type="submit">Add</button>
        </form>
      </div>
    </>
  );
}
