// The colleague list of a note box: "@" at the start of a word opens the
// list (see picker.tsx) of colleagues (GET /staff, without me), filtered as
// the agent types; the chosen one goes in as "@Name ". The picked
// colleagues are remembered: at send time those whose "@Name" is still in
// the text are the note's mentions.

import { useEffect, useRef } from 'preact/hooks';
import type { RefObject } from 'preact';
import { client, store } from './client';
import { atQuery, insertMention, matchColleagues, mentionedIds, type Colleague } from './mentions';
import { usePicker, type PickerMenu } from './picker';

const availText: Record<string, string> = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };

export interface MentionMenu extends PickerMenu {
  // the ids of the picked colleagues still named in the text
  ids: () => number[];
}

// colleagues: everyone I can mention (not me), by name.
export function colleagues(): Colleague[] {
  const me = store.me?.id;
  return [...store.staff.values()].filter((m) => m.id !== me).map((m) => ({ id: m.id, name: m.name })).sort((a, b) => a.name.localeCompare(b.name));
}

// enabled: the box is in note mode (replies to customers mention nobody).
export function useMentionMenu(ta: RefObject<HTMLTextAreaElement | null>, value: string, setValue: (v: string) => void, idBase: string, enabled: boolean): MentionMenu {
  const picked = useRef<Colleague[]>([]);

  // a sent (cleared) note forgets who was picked
  useEffect(() => {
    if (!value) picked.current = [];
  }, [value]);

  const people = colleagues();
  const menu = usePicker<Colleague>(ta, value, setValue, {
    idBase,
    name: 'mention',
    menuClass: 'mention-menu',
    label: 'Colleagues to mention',
    hint: 'Type @ to mention a colleague: they are notified of the note.',
    nouns: ['colleague', 'colleagues'],
    max: 30,
    enabled,
    find: atQuery,
    filter: (q) => matchColleagues(people, q),
    onToken: () => {
      if (store.staff.size === 0) void client.loadStaff();
    },
    empty: (q) => !q && people.length === 0 && 'No colleagues to mention.',
    data: (c) => ({ 'data-user': c.id }),
    render: (c) => {
      const a = store.staff.get(c.id)?.availability ?? 'offline';
      return (
        <>
          <span class="mention-name">@{c.name}</span>
          <span class={`mention-avail avail-${a}`}><span class="dot" aria-hidden="true" />{availText[a] ?? a}</span>
        </>
      );
    },
    title: (c) => c.name,
    insert: (text, tok, c) => insertMention(text, tok, c.name),
    onPick: (c) => {
      if (!picked.current.some((p) => p.id === c.id)) picked.current = [...picked.current, c];
    },
  });
  return { ...menu, ids: () => (enabled ? mentionedIds(value, picked.current) : []) };
}
