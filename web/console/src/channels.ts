// SMS and WhatsApp in the console, the pure parts: which channel a
// conversation and a message came by (for badges and timeline labels), the
// template SID check and the template variables an agent types as
// key=value lines. No DOM, no network: unit tested.

import type { Conversation, Message } from './types';

export type TextChannel = 'sms' | 'whatsapp';

export const textLabel: Record<TextChannel, string> = { sms: 'SMS', whatsapp: 'WhatsApp' };

export const isTextChannel = (c: string | undefined): c is TextChannel => c === 'sms' || c === 'whatsapp';

// The most a text may hold (the server counts bytes of UTF-8).
export const MAX_TEXT_BYTES = 1600;

export interface ChannelInfo {
  key: 'sms' | 'whatsapp' | 'widget' | 'email';
  label: string;
  title: string;
}

const live = (c: Conversation) => c.chat_state === 'bot' || c.chat_state === 'waiting' || c.chat_state === 'pending' || c.chat_state === 'active';

// channelInfo says how a conversation reaches the customer: by SMS or
// WhatsApp (they texted in), in the website widget while a chat is live,
// else by email from the ticket (a widget chat that ended, an offline
// message, or mail).
export function channelInfo(c: Conversation): ChannelInfo {
  if (c.channel === 'sms') return { key: 'sms', label: 'SMS', title: 'The customer texted in by SMS' };
  if (c.channel === 'whatsapp') return { key: 'whatsapp', label: 'WhatsApp', title: 'The customer wrote in by WhatsApp' };
  if (c.channel !== 'email' && live(c)) return { key: 'widget', label: 'Widget', title: 'A live chat in the website widget' };
  return { key: 'email', label: 'Email', title: c.channel === 'email' ? 'The customer wrote in by email' : 'No live chat: the ticket continues by email' };
}

// The client ids the console gives texts: "<channel>-…" (client.clientId).
const TEMPLATE_BODY = '[WhatsApp template ';

// messageVia says how a customer-facing text went or came outside a live
// widget chat: 'sms' or 'whatsapp' (the console's client ids for texts, a
// template's body, an inbound text's "ch-" id in a texting conversation),
// 'email' (an inbound mail, an agent's text with no chat), '' (in a chat).
export function messageVia(m: Message, convChannel: string | undefined): TextChannel | 'email' | '' {
  if (m.kind !== 'text') return '';
  const cid = m.client_id ?? '';
  if (m.author_kind === 'visitor') {
    if (m.raw_attachment_id) return 'email';
    return cid.startsWith('ch-') && isTextChannel(convChannel) ? convChannel : '';
  }
  if (m.author_kind !== 'agent') return '';
  if (cid.startsWith('sms-')) return 'sms';
  if (cid.startsWith('whatsapp-') || m.body.startsWith(TEMPLATE_BODY)) return 'whatsapp';
  return m.chat_id ? '' : 'email';
}

// isTemplateSid: a Twilio Content SID, "HX" and 32 hex digits.
export const isTemplateSid = (s: string): boolean => /^HX[0-9a-fA-F]{32}$/.test(s);

export type VarsResult = { ok: true; vars: Record<string, string> } | { ok: false; error: string };

// parseTemplateVars reads a template's variables, one key=value a line
// ("1=Pat"). Blank lines are skipped; around the key and the value spaces
// are trimmed; the value may hold "=". A line without "=", an empty or
// spaced key, an empty value or a key given twice is an error naming the
// line.
export function parseTemplateVars(text: string): VarsResult {
  const vars = new Map<string, string>();
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const n = i + 1;
    const at = line.indexOf('=');
    if (at < 0) return { ok: false, error: `Line ${n}: write each variable as key=value, for example 1=Pat.` };
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (!key) return { ok: false, error: `Line ${n}: the variable’s name is missing before “=”.` };
    if (/\s/.test(key)) return { ok: false, error: `Line ${n}: a variable’s name has no spaces (“${key}”).` };
    if (!value) return { ok: false, error: `Line ${n}: “${key}” has no value.` };
    if (vars.has(key)) return { ok: false, error: `Line ${n}: “${key}” is given twice.` };
    vars.set(key, value);
  }
  return { ok: true, vars: Object.fromEntries(vars) };
}

// textBytes is the size the server counts a text in.
export const textBytes = (s: string): number => new TextEncoder().encode(s).length;
