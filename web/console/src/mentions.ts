// @-mentions in internal notes: "@" at the start of a word opens a list of
// colleagues, the chosen one goes in as "@Name ", and at send time the ids
// of the names still in the text are the note's `mentions`. Notes show
// "@Name" highlighted. Pure (no DOM) so it is unit tested.

export interface Colleague {
  id: number;
  name: string;
}

// An "@query" being typed: text[start] is the "@", the query runs up to the
// caret, and end is where the word at the caret ends (what an insertion
// replaces).
export interface AtToken {
  start: number;
  end: number;
  query: string;
}

const wordChar = /[\p{L}\p{N}_'’.-]/u;
const opener = /[\s([{"'“‘«]/u;
const MAX_QUERY = 40;

// atQuery finds the "@query" the caret is in, or null. The "@" must start a
// word (the text's start, or after white space or an opening bracket or
// quote), so e-mail addresses do not open the list. The query may hold
// spaces ("@Alice Ag" for "Alice Agent") but no line break and no other
// "@"; whether anyone matches decides if a list shows.
export function atQuery(text: string, caret: number): AtToken | null {
  caret = Math.max(0, Math.min(caret, text.length));
  let i = caret;
  while (i > 0 && caret - i <= MAX_QUERY) {
    const ch = text[i - 1];
    if (ch === '@') {
      const start = i - 1;
      if (start > 0 && !opener.test(text[start - 1])) return null;
      const query = text.slice(i, caret);
      // a space may continue a name, never start or end one (after an
      // inserted "@Name " the list stays shut)
      if (/^\s|\s$|\s\s/.test(query)) return null;
      let end = caret;
      while (end < text.length && wordChar.test(text[end])) end++;
      return { start, end, query };
    }
    if (ch === '\n' || (!wordChar.test(ch) && ch !== ' ')) return null;
    i--;
  }
  return null;
}

// matchColleagues lists the colleagues matching the query, best first: the
// name starting with it, then a later word of the name starting with it,
// then the name containing it. Ties sort by name.
export function matchColleagues(list: readonly Colleague[], query: string): Colleague[] {
  const q = query.toLowerCase().trimEnd();
  const scored: [number, Colleague][] = [];
  for (const c of list) {
    const n = c.name.toLowerCase();
    let score = -1;
    if (!q || n.startsWith(q)) score = 0;
    else if (n.split(/\s+/).some((_, i, w) => w.slice(i).join(' ').startsWith(q))) score = 1;
    else if (n.includes(q)) score = 2;
    if (score >= 0) scored.push([score, c]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name) || a[1].id - b[1].id).map((x) => x[1]);
}

// insertMention replaces the "@query" with "@Name " and returns the new text
// and where the caret goes (after the space).
export function insertMention(text: string, tok: AtToken, name: string): { text: string; caret: number } {
  const rest = text.slice(tok.end);
  const ins = '@' + name + (rest.startsWith(' ') ? '' : ' ');
  return { text: text.slice(0, tok.start) + ins + rest, caret: tok.start + ins.length + (rest.startsWith(' ') ? 1 : 0) };
}

// findMentions locates "@Name" for the given colleagues in a text: the "@"
// starts a word and the name ends one (so "@Al" is not found in "@Alison").
// Longer names win where two overlap ("@Al Smith" over "@Al"). Spans are
// returned in text order.
export function findMentions(text: string, people: readonly Colleague[]): { start: number; end: number; id: number }[] {
  const spans: { start: number; end: number; id: number }[] = [];
  const taken = new Uint8Array(text.length);
  const byLength = people.filter((p) => p.name.trim()).sort((a, b) => b.name.length - a.name.length);
  for (const p of byLength) {
    const needle = '@' + p.name;
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
      const end = i + needle.length;
      if (i > 0 && !opener.test(text[i - 1])) continue;
      if (end < text.length && /[\p{L}\p{N}_]/u.test(text[end])) continue;
      if (taken.subarray(i, end).some((x) => x)) continue;
      taken.fill(1, i, end);
      spans.push({ start: i, end, id: p.id });
    }
  }
  return spans.sort((a, b) => a.start - b.start);
}

// mentionedIds: the ids of the picked colleagues whose "@Name" is still in
// the text, in the order they first appear, each once.
export function mentionedIds(text: string, picked: readonly Colleague[]): number[] {
  const out: number[] = [];
  for (const s of findMentions(text, picked)) if (!out.includes(s.id)) out.push(s.id);
  return out;
}

export interface Segment {
  text: string;
  id?: number; // set: an "@Name" of this colleague
}

// splitMentions cuts a note's text into plain runs and "@Name" runs (for
// highlighting; the caller renders them as text, never as HTML).
export function splitMentions(text: string, people: readonly Colleague[]): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const s of findMentions(text, people)) {
    if (s.start > at) out.push({ text: text.slice(at, s.start) });
    out.push({ text: text.slice(s.start, s.end), id: s.id });
    at = s.end;
  }
  if (at < text.length || !out.length) out.push({ text: text.slice(at) });
  return out;
}
