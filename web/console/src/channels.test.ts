import { describe, expect, it } from 'vitest';
import { channelInfo, isTemplateSid, messageVia, parseTemplateVars, textBytes } from './channels';
import type { Conversation, Message } from './types';

function conv(over: Partial<Conversation> = {}): Conversation {
  return {
    id: 1, site_id: 1, contact_id: 2, channel: 'widget', status: 'open', priority: 'normal', tags: [], last_seq: 1,
    preview: '', last_message_at: '', created_at: '', updated_at: '', ...over,
  };
}

function msg(over: Partial<Message> = {}): Message {
  return { id: 1, conversation_id: 1, seq: 1, author_kind: 'agent', kind: 'text', visibility: 'public', body: 'hi', created_at: '', ...over };
}

describe('template variables', () => {
  it('reads key=value lines, trimming and skipping blank lines', () => {
    expect(parseTemplateVars('1=Pat\n\n  2 =  Tuesday 9am \r\nname=a=b\n')).toEqual({ ok: true, vars: { 1: 'Pat', 2: 'Tuesday 9am', name: 'a=b' } });
  });
  it('is empty for an empty box', () => {
    expect(parseTemplateVars('')).toEqual({ ok: true, vars: {} });
    expect(parseTemplateVars('  \n \n')).toEqual({ ok: true, vars: {} });
  });
  it('names the line of a mistake', () => {
    expect(parseTemplateVars('1=Pat\nTuesday')).toEqual({ ok: false, error: 'Line 2: write each variable as key=value, for example 1=Pat.' });
    expect(parseTemplateVars('=Pat')).toMatchObject({ ok: false, error: expect.stringContaining('Line 1: the variable’s name is missing') });
    expect(parseTemplateVars('first name=Pat')).toMatchObject({ ok: false, error: expect.stringContaining('no spaces') });
    expect(parseTemplateVars('1=')).toMatchObject({ ok: false, error: 'Line 1: “1” has no value.' });
    expect(parseTemplateVars('1=Pat\n\n1=Sam')).toMatchObject({ ok: false, error: 'Line 3: “1” is given twice.' });
  });
  it('keeps odd keys as plain keys', () => {
    const r = parseTemplateVars('__proto__=x\nconstructor=y');
    expect(r.ok && JSON.stringify(r.vars)).toBe('{"__proto__":"x","constructor":"y"}');
  });
});

describe('template SID', () => {
  it('is HX and 32 hex digits', () => {
    expect(isTemplateSid('HX0123456789abcdef0123456789abcdef')).toBe(true);
    expect(isTemplateSid('HX0123456789ABCDEF0123456789ABCDEF')).toBe(true);
    expect(isTemplateSid('HX0123')).toBe(false);
    expect(isTemplateSid('SM0123456789abcdef0123456789abcdef')).toBe(false);
    expect(isTemplateSid(' HX0123456789abcdef0123456789abcdef')).toBe(false);
    expect(isTemplateSid('HX0123456789abcdef0123456789abcdeg')).toBe(false);
  });
});

describe('channel badge', () => {
  it('names texting conversations by their channel', () => {
    expect(channelInfo(conv({ channel: 'sms', chat_state: 'active', chat_id: 3 })).label).toBe('SMS');
    expect(channelInfo(conv({ channel: 'whatsapp' })).label).toBe('WhatsApp');
  });
  it('is the widget while a chat is live, else email by the ticket', () => {
    expect(channelInfo(conv({ chat_id: 3, chat_state: 'waiting' })).key).toBe('widget');
    expect(channelInfo(conv({ chat_id: 3, chat_state: 'active' })).label).toBe('Widget');
    expect(channelInfo(conv({ chat_id: 3, chat_state: 'ended' })).label).toBe('Email');
    expect(channelInfo(conv({})).key).toBe('email');
    expect(channelInfo(conv({ channel: 'email', chat_state: 'active' })).key).toBe('email');
  });
});

describe('how a message went', () => {
  it('tells texts from mail', () => {
    expect(messageVia(msg({ client_id: 'sms-ab-1-1' }), 'whatsapp')).toBe('sms');
    expect(messageVia(msg({ client_id: 'whatsapp-ab-1-2' }), 'widget')).toBe('whatsapp');
    expect(messageVia(msg({ client_id: 'x', body: '[WhatsApp template HX0123456789abcdef0123456789abcdef]' }), 'widget')).toBe('whatsapp');
    expect(messageVia(msg({ client_id: 'console-ab-1-3' }), 'widget')).toBe('email');
    expect(messageVia(msg({ client_id: 'console-ab-1-3', chat_id: 4 }), 'widget')).toBe('');
    expect(messageVia(msg({ kind: 'note', client_id: 'sms-x' }), 'sms')).toBe('');
  });
  it('labels the customer’s texts by the conversation’s channel', () => {
    expect(messageVia(msg({ author_kind: 'visitor', client_id: 'ch-SM01', chat_id: 2 }), 'whatsapp')).toBe('whatsapp');
    expect(messageVia(msg({ author_kind: 'visitor', client_id: 'ch-SM01' }), 'widget')).toBe('');
    expect(messageVia(msg({ author_kind: 'visitor', raw_attachment_id: 9 }), 'widget')).toBe('email');
    expect(messageVia(msg({ author_kind: 'visitor', client_id: 'v-1', chat_id: 2 }), 'widget')).toBe('');
  });
});

describe('text size', () => {
  it('counts UTF-8 bytes', () => {
    expect(textBytes('abc')).toBe(3);
    expect(textBytes('é')).toBe(2);
  });
});
