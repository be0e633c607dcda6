import { describe, expect, it } from 'vitest';
import { insertReply, matchReplies, slashQuery } from './quickreplies';
import type { QuickReply } from './types';

const qr = (id: number, shortcut: string, body: string, owner_id?: number): QuickReply => ({ id, shortcut, body, owner_id, created_at: '', updated_at: '' });

// the server's order: by shortcut, shared first on ties
const list = [
  qr(1, 'hello', 'Hello! How can I help?'),
  qr(2, 'refund', 'Your refund is on its way.'),
  qr(5, 'refund', 'I refunded it myself.', 7),
  qr(3, 'refund-policy', 'Refunds take 5 days.', 7),
  qr(4, 'shipping', 'Orders ship within a day; late refunds are rare.', 7),
  qr(6, 'thanks', 'Thank you for your patience (and the prefund).', 7),
];

describe('slashQuery: "/" at the start of a word', () => {
  it('opens at the start of the text and after white space, with the letters up to the caret', () => {
    expect(slashQuery('/', 1)).toEqual({ start: 0, end: 1, query: '' });
    expect(slashQuery('/ref', 4)).toEqual({ start: 0, end: 4, query: 'ref' });
    expect(slashQuery('Hi there /ref', 13)).toEqual({ start: 9, end: 13, query: 'ref' });
    expect(slashQuery('Hi\n/re', 6)).toEqual({ start: 3, end: 6, query: 're' });
    expect(slashQuery('(/thanks', 8)).toEqual({ start: 1, end: 8, query: 'thanks' });
    expect(slashQuery('/refund-policy_2', 16)?.query).toBe('refund-policy_2');
    expect(slashQuery('/Café', 5)?.query).toBe('Café');
  });

  it('does not open in the middle of a word, a URL or a path, or after the word ends', () => {
    expect(slashQuery('and/or', 6)).toBeNull();
    expect(slashQuery('see https://x.test/ref', 22)).toBeNull();
    expect(slashQuery('/home/ref', 9)).toBeNull();
    expect(slashQuery('/ref now', 8)).toBeNull();
    expect(slashQuery('/ref ', 5)).toBeNull();
    expect(slashQuery('no slash', 8)).toBeNull();
    expect(slashQuery('', 0)).toBeNull();
  });

  it('with the caret inside the word: the query ends at the caret, the word is replaced whole', () => {
    expect(slashQuery('say /refund please', 8)).toEqual({ start: 4, end: 11, query: 'ref' });
    expect(slashQuery('say /refund please', 4)).toBeNull(); // before the "/"
    expect(slashQuery('/x', 99)).toEqual({ start: 0, end: 2, query: 'x' }); // clamped
  });
});

describe('matchReplies: by shortcut and text', () => {
  const ids = (q: string) => matchReplies(list, q).map((r) => r.id);

  it('an empty query lists everything in the server order', () => {
    expect(ids('')).toEqual([1, 2, 5, 3, 4, 6]);
  });

  it('ranks the exact shortcut, then shortcuts starting with it, containing it, then text (word start before inside a word)', () => {
    expect(ids('refund')).toEqual([2, 5, 3, 4, 6]);
    expect(ids('ref')).toEqual([2, 5, 3, 4, 6]);
    expect(ids('policy')).toEqual([3]);
    expect(ids('patience')).toEqual([6]);
    expect(ids('ship')).toEqual([4]);
  });

  it('ignores case and finds nothing when nothing matches', () => {
    expect(ids('HELLO')).toEqual([1]);
    expect(ids('zzz')).toEqual([]);
  });

  it('does not change the list it is given', () => {
    const copy = [...list];
    matchReplies(list, 'ref');
    expect(list).toEqual(copy);
  });
});

describe('insertReply: the reply replaces the "/query"', () => {
  it('replaces the whole word and puts the caret after the reply', () => {
    const text = 'Hi Vera, /ref';
    const out = insertReply(text, slashQuery(text, text.length)!, 'Your refund is on its way.');
    expect(out).toEqual({ text: 'Hi Vera, Your refund is on its way.', caret: 35 });
  });

  it('adds nothing at the end, so the sent text is exactly the reply', () => {
    const out = insertReply('/ref', slashQuery('/ref', 4)!, 'Line one\nLine two');
    expect(out.text).toBe('Line one\nLine two');
    expect(out.caret).toBe(out.text.length);
  });

  it('keeps the text after the word as it was', () => {
    const t1 = '/re and more';
    expect(insertReply(t1, slashQuery(t1, 3)!, 'Thanks').text).toBe('Thanks and more');
    const t2 = '/re, and';
    // the comma ends the word: kept right after the reply
    expect(insertReply(t2, slashQuery(t2, 3)!, 'Thanks')).toEqual({ text: 'Thanks, and', caret: 6 });
    const t3 = 'x /refund y';
    const tok = slashQuery(t3, 5)!; // caret after "/re": the whole "/refund" goes
    expect(insertReply(t3, tok, 'OK')).toEqual({ text: 'x OK y', caret: 4 });
  });
});
