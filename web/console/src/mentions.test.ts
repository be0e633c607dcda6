import { describe, expect, it } from 'vitest';
import { atQuery, findMentions, insertMention, matchColleagues, mentionedIds, splitMentions, type Colleague } from './mentions';

const alice: Colleague = { id: 2, name: 'Alice Agent' };
const bob: Colleague = { id: 3, name: 'Bob Agent' };
const al: Colleague = { id: 7, name: 'Al' };
const sue: Colleague = { id: 9, name: 'Sue' };
const staff = [bob, alice, sue];

describe('atQuery', () => {
  it('opens on "@" at the start of a word, with the query up to the caret', () => {
    expect(atQuery('@', 1)).toEqual({ start: 0, end: 1, query: '' });
    expect(atQuery('hi @Ali', 7)).toEqual({ start: 3, end: 7, query: 'Ali' });
    expect(atQuery('(@bo', 4)).toEqual({ start: 1, end: 4, query: 'bo' });
    // the word at the caret is what an insertion replaces
    expect(atQuery('hi @Alixx more', 6)).toEqual({ start: 3, end: 9, query: 'Al' });
  });

  it('allows a space inside a name, never at its start or end', () => {
    expect(atQuery('@Alice Ag', 9)).toEqual({ start: 0, end: 9, query: 'Alice Ag' });
    expect(atQuery('@Alice ', 7)).toBeNull(); // right after an inserted "@Name "
    expect(atQuery('@ x', 3)).toBeNull();
    expect(atQuery('@a  b', 5)).toBeNull();
  });

  it('does not open in e-mail addresses, after a line break or another sign', () => {
    expect(atQuery('mail vera@example.com', 21)).toBeNull();
    expect(atQuery('@Al\nfoo', 7)).toBeNull();
    expect(atQuery('@Al, foo', 8)).toBeNull();
    expect(atQuery('no at here', 10)).toBeNull();
  });
});

describe('matchColleagues', () => {
  it('lists everyone for an empty query, by name', () => {
    expect(matchColleagues(staff, '').map((c) => c.id)).toEqual([2, 3, 9]);
  });
  it('ranks name prefix, then word prefix, then substring; case-insensitive', () => {
    const people = [{ id: 1, name: 'Zed Ali' }, { id: 2, name: 'Alice Agent' }, { id: 3, name: 'Kalif' }];
    expect(matchColleagues(people, 'ali').map((c) => c.id)).toEqual([2, 1, 3]);
    expect(matchColleagues(people, 'ALICE AG').map((c) => c.id)).toEqual([2]);
    expect(matchColleagues(people, 'xyz')).toEqual([]);
  });
});

describe('insertMention', () => {
  it('replaces the @query with "@Name " and puts the caret after it', () => {
    const text = 'ping @Ali please';
    const tok = atQuery(text, 9)!;
    expect(insertMention(text, tok, 'Alice Agent')).toEqual({ text: 'ping @Alice Agent please', caret: 18 });
    expect(insertMention('@Ali', atQuery('@Ali', 4)!, 'Alice Agent')).toEqual({ text: '@Alice Agent ', caret: 13 });
  });
});

describe('mentionedIds', () => {
  it('keeps the ids of the picked names still in the text, once each, in order', () => {
    expect(mentionedIds('@Sue and @Alice Agent, see @Sue', [alice, sue])).toEqual([9, 2]);
  });
  it('drops a name that was edited away or changed', () => {
    expect(mentionedIds('@Alice Agen please', [alice])).toEqual([]);
    expect(mentionedIds('please', [alice, sue])).toEqual([]);
    expect(mentionedIds('@Alice Agentx', [alice])).toEqual([]);
    expect(mentionedIds('mail@Sue', [sue])).toEqual([]);
  });
  it('only counts colleagues that were picked', () => {
    expect(mentionedIds('@Bob Agent @Sue', [sue])).toEqual([9]);
  });
  it('a longer name wins where two overlap', () => {
    const alSmith = { id: 8, name: 'Al Smith' };
    expect(mentionedIds('@Al Smith', [al, alSmith])).toEqual([8]);
    expect(mentionedIds('@Al Smith and @Al.', [al, alSmith])).toEqual([8, 7]);
  });
});

describe('splitMentions', () => {
  it('cuts the text into plain and @Name runs', () => {
    expect(splitMentions('hi @Sue, ask @Bob Agent', staff)).toEqual([
      { text: 'hi ' }, { text: '@Sue', id: 9 }, { text: ', ask ' }, { text: '@Bob Agent', id: 3 },
    ]);
    expect(splitMentions('plain', staff)).toEqual([{ text: 'plain' }]);
    expect(splitMentions('', staff)).toEqual([{ text: '' }]);
  });
  it('keeps markup as text (rendering escapes it)', () => {
    const evil = '@Sue <img src=x onerror=alert(1)>';
    expect(splitMentions(evil, staff).map((s) => s.text).join('')).toBe(evil);
    expect(findMentions(evil, staff)).toEqual([{ start: 0, end: 4, id: 9 }]);
  });
});
