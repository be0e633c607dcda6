// The colleague list of a note box: "@" at the start of a word opens a
// listbox of colleagues (GET /staff, without me), filtered as the agent
// types; Up/Down move, Enter or Tab insert "@Name ", Escape closes, and the
// mouse works too. Focus stays in the text box (aria-activedescendant
// points at the option). The picked colleagues are remembered: at send
// time those whose "@Name" is still in the text are the note's mentions.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { RefObject, VNode } from 'preact';
import { client, store } from './client';
import { atQuery, insertMention, matchColleagues, mentionedIds, type AtToken, type Colleague } from './mentions';
import type { QuickMenu } from './quickmenu';

const MAX = 30;
const availText: Record<string, string> = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };

export interface MentionMenu extends QuickMenu {
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
  const [tok, setTok] = useState<AtToken | null>(null);
  const [active, setActive] = useState(0);
  const dismissed = useRef(-1); // the "@" (its index) Escape closed the list for
  const caret = useRef<number | null>(null);
  const seen = useRef(''); // the value the token was read from
  const picked = useRef<Colleague[]>([]);
  const listId = idBase + '-mention-list';

  // a sent (cleared) note forgets who was picked
  useEffect(() => {
    if (!value) picked.current = [];
  }, [value]);

  useEffect(() => {
    const el = ta.current;
    if (caret.current === null || !el) return;
    el.focus();
    el.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  });

  const people = colleagues();
  const shown = enabled && tok && tok.start !== dismissed.current && seen.current === value ? tok : null;
  const matches = shown ? matchColleagues(people, shown.query).slice(0, MAX) : [];
  const open = !!shown && matches.length > 0;
  const cur = Math.min(active, Math.max(0, matches.length - 1));
  const optId = (c: Colleague) => `${listId}-${c.id}`;

  useEffect(() => {
    if (open) document.getElementById(optId(matches[cur]))?.scrollIntoView({ block: 'nearest' });
  }, [open, cur, shown?.query]);

  const sync = () => {
    const el = ta.current;
    if (!el) return;
    seen.current = el.value;
    const t = enabled && el.selectionStart === el.selectionEnd ? atQuery(el.value, el.selectionStart ?? el.value.length) : null;
    if (!t) dismissed.current = -1;
    if (!t || !tok || tok.start !== t.start || tok.query !== t.query) setActive(0);
    setTok(t);
    if (t && store.staff.size === 0) void client.loadStaff();
  };

  const insert = (c: Colleague) => {
    const el = ta.current;
    if (!el || !shown) return;
    const out = insertMention(el.value, shown, c.name);
    if (!picked.current.some((p) => p.id === c.id)) picked.current = [...picked.current, c];
    caret.current = out.caret;
    dismissed.current = -1;
    setTok(null);
    setValue(out.text);
  };

  const onKeyDown = (e: KeyboardEvent): boolean => {
    if (!open || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return false;
    const n = matches.length;
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        setActive((cur + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
        break;
      case 'Enter':
      case 'Tab':
        if (e.shiftKey) return false;
        insert(matches[cur]);
        break;
      case 'Escape':
        e.stopPropagation();
        if (tok) dismissed.current = tok.start;
        setTok(null);
        break;
      default:
        return false;
    }
    e.preventDefault();
    return true;
  };

  const attrs = {
    'aria-autocomplete': 'list',
    'aria-controls': open ? listId : undefined,
    'aria-activedescendant': open ? optId(matches[cur]) : undefined,
    'aria-describedby': enabled ? idBase + '-mention-hint' : undefined,
    onClick: sync,
    onKeyUp: (e: KeyboardEvent) => {
      if (['ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown'].includes(e.key) || (!open && (e.key === 'ArrowUp' || e.key === 'ArrowDown'))) sync();
    },
  };

  let popup: VNode | null = null;
  if (open) {
    popup = (
      <div class="qr-menu mention-menu" id={idBase + '-mention'}>
        <ul role="listbox" id={listId} class="qr-options" aria-label="Colleagues to mention">
          {matches.map((c, i) => {
            const a = store.staff.get(c.id)?.availability ?? 'offline';
            return (
              <li role="option" id={optId(c)} key={c.id} aria-selected={i === cur} class={i === cur ? 'qr-option current' : 'qr-option'} data-user={c.id}
                onMouseDown={(e) => e.preventDefault()} onMouseMove={() => i !== cur && setActive(i)} onClick={() => insert(c)}>
                <span class="mention-name">@{c.name}</span>
                <span class={`mention-avail avail-${a}`}><span class="dot" aria-hidden="true" />{availText[a] ?? a}</span>
              </li>
            );
          })}
        </ul>
        <p class="qr-keys" aria-hidden="true">↑↓ choose · Enter or Tab insert · Esc close</p>
      </div>
    );
  } else if (shown && !shown.query && people.length === 0) {
    popup = <div class="qr-menu qr-empty" id={idBase + '-mention'}>No colleagues to mention.</div>;
  }
  return {
    attrs,
    onKeyDown,
    sync,
    blur: () => setTok(null),
    ids: () => (enabled ? mentionedIds(value, picked.current) : []),
    popup: (
      <>
        {popup}
        {enabled && <span class="sr-only" id={idBase + '-mention-hint'}>Type @ to mention a colleague: they are notified of the note.</span>}
        <span class="sr-only" role="status" aria-live="polite">{open ? `${matches.length} ${matches.length === 1 ? 'colleague' : 'colleagues'}, ${matches[cur].name} selected. Up and Down to choose, Enter to insert.` : ''}</span>
      </>
    ),
  };
}

// bothMenus lets one text box have the quick-reply list and the colleague
// list: keys go to whichever is open, both follow the caret.
export function bothMenus(a: QuickMenu, b: QuickMenu): QuickMenu {
  const x = a.attrs as Record<string, any>;
  const y = b.attrs as Record<string, any>;
  return {
    attrs: {
      'aria-autocomplete': 'list',
      'aria-controls': x['aria-controls'] ?? y['aria-controls'],
      'aria-activedescendant': x['aria-activedescendant'] ?? y['aria-activedescendant'],
      'aria-describedby': [x['aria-describedby'], y['aria-describedby']].filter(Boolean).join(' ') || undefined,
      onClick: () => {
        x.onClick?.();
        y.onClick?.();
      },
      onKeyUp: (e: KeyboardEvent) => {
        x.onKeyUp?.(e);
        y.onKeyUp?.(e);
      },
    },
    onKeyDown: (e) => a.onKeyDown(e) || b.onKeyDown(e),
    sync: () => {
      a.sync();
      b.sync();
    },
    blur: () => {
      a.blur();
      b.blur();
    },
    popup: (
      <>
        {a.popup}
        {b.popup}
      </>
    ),
  };
}
