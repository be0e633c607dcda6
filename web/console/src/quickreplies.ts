// Quick replies in a reply box: "/" at the start of a word opens the list,
// the letters after it filter by shortcut and text, and the chosen reply
// replaces the "/query". Pure (no DOM) so it is unit tested.

import type { QuickReply } from './types';

// A "/query" being typed: text[start] is the "/", the query runs up to the
// caret, and end is where the word ends (what an insertion replaces).
export interface SlashToken {
  start: number;
  end: number;
  query: string;
}

const wordChar = /[\p{L}\p{N}_-]/u;

// slashQuery finds the "/query" the caret is in, or null. The "/" must start
// a word (the text's start, or after white space or an opening bracket or
// quote), so "and/or" and URLs do not open the list.
export function slashQuery(text: string, caret: number): SlashToken | null {
  caret = Math.max(0, Math.min(caret, text.length));
  let i = caret;
  while (i > 0 && wordChar.test(text[i - 1])) i--;
  if (i === 0 || text[i - 1] !== '/') return null;
  const start = i - 1;
  if (start > 0 && !/[\s([{"'“‘«]/u.test(text[start - 1])) return null;
  let end = caret;
  while (end < text.length && wordChar.test(text[end])) end++;
  return { start, end, query: text.slice(start + 1, caret) };
}

// matchReplies lists the replies matching the query, best first: the
// shortcut itself, then shortcuts starting with it, containing it, then
// replies whose text has a word starting with it, then text containing it.
// Ties keep the server's order (by shortcut, shared first).
export function matchReplies(list: readonly QuickReply[], query: string): QuickReply[] {
  const q = query.toLowerCase();
  if (!q) return [...list];
  const scored: [number, number, QuickReply][] = [];
  list.forEach((r, i) => {
    const s = r.shortcut.toLowerCase();
    const b = r.body.toLowerCase();
    let score = -1;
    if (s === q) score = 0;
    else if (s.startsWith(q)) score = 1;
    else if (s.includes(q)) score = 2;
    else if (wordStart(b, q)) score = 3;
    else if (b.includes(q)) score = 4;
    if (score >= 0) scored.push([score, i, r]);
  });
  return scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
}

function wordStart(text: string, q: string): boolean {
  for (let i = text.indexOf(q); i >= 0; i = text.indexOf(q, i + 1)) {
    if (i === 0 || !wordChar.test(text[i - 1])) return true;
  }
  return false;
}

// insertReply replaces the "/query" word with the reply's text and returns
// the new text and where the caret goes (right after the inserted text).
// Nothing is added around it: sent as is, the message is exactly the reply.
export function insertReply(text: string, tok: SlashToken, body: string): { text: string; caret: number } {
  return { text: text.slice(0, tok.start) + body + text.slice(tok.end), caret: tok.start + body.length };
}

// isShared: a shared reply has no owner.
export const isShared = (r: QuickReply): boolean => !r.owner_id;
