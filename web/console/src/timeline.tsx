// A conversation's timeline: messages, internal notes (marked, their
// @-mentions highlighted), system lines, attachments, "Seen", the
// customer's typing, and for tickets the replies that came and went by
// email (with a link to the original mail) or by SMS / WhatsApp.

import { useEffect, useRef } from 'preact/hooks';
import { store } from './client';
import { messageVia, textLabel } from './channels';
import { splitMentions, type Colleague } from './mentions';
import type { Message } from './types';
import { clock } from './util';

export function Timeline({ id }: { id: number }) {
  const items = store.timeline(id);
  const channel = store.entries.get(id)?.conv.channel;
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const typingName = store.visitorTyping(id);
  const visitorRead = store.visitorReadSeq(id);
  let lastSeenSeq = 0;
  for (const m of items) if (m.author_kind === 'agent' && m.kind === 'text' && m.seq <= visitorRead) lastSeenSeq = m.seq;

  useEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  // re-check the typing indicator's expiry
  useEffect(() => {
    if (!typingName) return;
    const t = setTimeout(() => store.changed(), 6500);
    return () => clearTimeout(t);
  }, [typingName]);

  return (
    <div class="timeline" role="log" aria-label="Conversation timeline" aria-live="polite" id="timeline" ref={ref}
      onScroll={(ev) => {
        const el = ev.currentTarget as HTMLElement;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}>
      <ol class="timeline-list">
      {items.map((m) => <TimelineEntry m={m} seen={m.seq === lastSeenSeq} channel={channel} key={m.seq} />)}
      {typingName && (
        <li class="typing" id="visitor-typing" aria-live="polite">
          <span class="typing-dots" aria-hidden="true"><i /><i /><i /></span> {typingName} is typing…
        </li>
      )}
      </ol>
    </div>
  );
}

function TimelineEntry({ m, seen, channel }: { m: Message; seen: boolean; channel?: string }) {
  if (m.kind === 'event' || (m.author_kind === 'system' && m.kind !== 'note')) {
    return (
      <li class="entry system" data-seq={m.seq}>
        <span>{m.body}</span> <time dateTime={m.created_at}>{clock(m.created_at)}</time>
      </li>
    );
  }
  const cls = m.kind === 'note' ? 'note' : m.author_kind === 'visitor' ? 'visitor' : m.author_kind === 'bot' ? 'bot' : 'agent';
  // how it went outside a live widget chat (channels.ts)
  const via = messageVia(m, channel);
  const viaText = via === 'email' ? 'email' : via ? textLabel[via] : '';
  return (
    <li class={`entry ${cls}${via ? ' by-' + via : ''}`} data-seq={m.seq}>
      <div class="bubble">
        <div class="entry-head">
          {m.kind === 'note' && <span class="note-label">Internal note</span>}
          <span class="author">{m.author_name || (m.author_kind === 'visitor' ? 'Customer' : m.author_kind === 'system' ? 'Switchboard' : m.author_kind)}</span>
          {via && <span class={'via-' + via}>{m.author_kind === 'visitor' ? 'by ' + viaText : 'sent by ' + viaText}</span>}
          <time dateTime={m.created_at} title={m.created_at}>{clock(m.created_at)}</time>
        </div>
        {m.body && <div class="body-text">{m.kind === 'note' ? <NoteText body={m.body} /> : m.body}</div>}
        {m.attachment && <AttachmentView a={m.attachment} />}
        {!!m.raw_attachment_id && (
          <a class="raw-email" href={`/api/v1/attachments/${m.raw_attachment_id}`} rel="noopener noreferrer" download>Original email</a>
        )}
        {seen && <div class="seen" aria-label="Seen by the customer">Seen</div>}
      </div>
    </li>
  );
}

// NoteText shows a note with its "@Name" mentions of colleagues highlighted
// (mine more so). Text nodes only: a note's markup is never HTML.
function NoteText({ body }: { body: string }) {
  const people: Colleague[] = [...store.staffNames].map(([id, name]) => ({ id, name }));
  const me = store.me?.id;
  return (
    <>
      {splitMentions(body, people).map((s, i) =>
        s.id === undefined ? s.text : <mark class={s.id === me ? 'mention me' : 'mention'} data-user={s.id} key={i}>{s.text}</mark>,
      )}
    </>
  );
}

function AttachmentView({ a }: { a: NonNullable<Message['attachment']> }) {
  const href = `/api/v1/attachments/${a.id}`;
  if (a.content_type.startsWith('image/')) {
    return (
      <a href={href} target="_blank" rel="noopener noreferrer" class="attachment">
        <img src={href} alt={a.name} loading="lazy" />
      </a>
    );
  }
  return (
    <a href={href} class="attachment file" rel="noopener noreferrer">📎 {a.name} <span class="muted">({Math.ceil(a.size / 1024)} KB)</span></a>
  );
}

