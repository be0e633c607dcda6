// Pieces the screens share: the dialog frame and error messages.

import { useEffect, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError } from './api';
import { CommandError } from './socket';

// Friendly text for the stable error codes of the REST API and the socket.
const messages: Record<string, string> = {
  agent_offline: 'Go online (Available) before joining chats.',
  chat_already_taken: 'Another agent has already taken this chat.',
  chat_ended: 'This chat has already ended.',
  not_a_participant: 'Join the chat before writing to the customer.',
  supervisor_read_only: 'Supervisors can read but not write to customers.',
  // mentions (invalid_mention: the server names who cannot be mentioned)
  too_many_mentions: 'A note can mention at most 20 colleagues.',
  mentions_in_notes_only: 'Colleagues are mentioned in internal notes only, never in messages to the customer.',
  no_live_chat: 'The customer is not in a live chat, so a reply cannot reach them here. Add an internal note, or answer by email.',
  // routing
  no_offer: 'This chat is no longer offered to you.',
  nobody_available: 'Nobody in that department can take a chat right now. Pick someone else.',
  agent_unavailable: 'That agent is no longer available. Pick someone else.',
  agent_at_capacity: 'That agent has no room for another chat right now. Pick someone else.',
  agent_not_found: 'That agent cannot take chats on this site.',
  department_not_found: 'That department no longer exists.',
  already_in_chat: 'That agent is already in this chat.',
  supervisors_only: 'Only supervisors and admins can assign chats.',
  invalid_capacity: 'Capacity cannot be negative.',
  capacity_above_maximum: 'That is more chats than an admin allows you. Pick a lower number.',
  admin_only: 'Only admins can change this.',
  // tickets and email
  chat_live: 'The customer is in a live chat: end the chat first, or handle it from the chat.',
  no_email: 'This customer left no email address, so a reply cannot reach them.',
  email_not_configured: 'This server is not set up to send email. Ask an admin to configure outgoing mail.',
  query_too_long: 'The search is too long: use at most 200 characters.',
  invalid_status: 'That status does not exist.',
  conversation_not_found: 'This conversation no longer exists, or you cannot see it.',
};

export function errText(e: unknown, overrides: Record<string, string> = {}): string {
  if (e instanceof ApiError || e instanceof CommandError) return overrides[e.code] ?? messages[e.code] ?? sentence(e.message);
  return 'Something went wrong. Try again.';
}

// sentence capitalises a server message and ends it with a full stop.
export function sentence(s: string): string {
  if (!s) return 'Something went wrong. Try again.';
  const t = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : t + '.';
}

export function Modal({ title, onClose, children, id, wide }: { title: string; onClose: () => void; children: ComponentChildren; id: string; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    return () => prev?.focus();
  }, []);
  return (
    <div class="overlay" onClick={(e) => e.target === e.currentTarget && onClose()} onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <div class={wide ? 'modal wide' : 'modal'} role="dialog" aria-modal="true" aria-labelledby={id + '-title'} id={id} ref={ref}>
        <h2 id={id + '-title'}>{title}</h2>
        {children}
      </div>
    </div>
  );
}

// SaveFooter ends a settings form: its error, a "Saved." note and the submit
// button, with ids `${id}-error`, `${id}-saved` and `${id}-save` for tests.
export function SaveFooter({ id, err, saved, busy, label }: { id: string; err: string; saved: boolean; busy: boolean; label: string }) {
  return (
    <>
      {err && <p class="form-error" role="alert" id={id + '-error'}>{err}</p>}
      <div class="form-actions">
        {saved && <span class="saved" role="status" id={id + '-saved'}>Saved.</span>}
        <button class="btn primary" type="submit" id={id + '-save'} disabled={busy}>{busy ? 'Saving…' : label}</button>
      </div>
    </>
  );
}
