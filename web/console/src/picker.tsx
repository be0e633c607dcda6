// The suggestion list of a text box, shared by the quick-reply list ("/")
// and the colleague list ("@"): a trigger character at the start of a word
// opens a listbox under the box, filtered as the agent types; Up/Down
// move, Enter or Tab insert (replacing the "<trigger>query"), Escape
// closes, and the mouse works too. Focus stays in the text box
// (aria-activedescendant points at the option). What differs (the trigger,
// the items, their filter and look, what an item inserts) is the spec.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren, RefObject, VNode } from 'preact';

export interface PickerMenu {
  // spread on the textarea: ARIA wiring, caret tracking
  attrs: Record<string, unknown>;
  // call first in the textarea's keydown; true: the key was the menu's
  onKeyDown: (e: KeyboardEvent) => boolean;
  // call after the textarea's value changed from typing
  sync: () => void;
  // call from the textarea's blur: the list hides
  blur: () => void;
  popup: VNode;
}

// A "<trigger>query" being typed: text[start] is the trigger, the query
// runs up to the caret, and end is where the word ends (what an insertion
// replaces).
export interface Token {
  start: number;
  end: number;
  query: string;
}

export interface PickerSpec<T extends { id: number }> {
  // the ids: `${idBase}-${name}` (the popup), -list, -hint, -list-<item id>
  idBase: string;
  name: string;
  // more classes of the popup (besides qr-menu)
  menuClass?: string;
  label: string; // the listbox's
  hint: string; // how to open the list (for aria-describedby)
  nouns: [string, string]; // what an item is called: one, many
  max: number; // the most options shown
  // false: the list never opens and the hint is gone (default true)
  enabled?: boolean;
  // the token the caret is in, or null
  find: (text: string, caret: number) => Token | null;
  // the items matching a query, best first
  filter: (query: string) => T[];
  // called when the caret is in a token (load the items, retry a failure)
  onToken?: () => void;
  // what shows instead of the list when nothing matches (null: nothing)
  empty: (query: string) => ComponentChildren;
  // an option's data-* attributes, content, and name (for screen readers)
  data: (item: T) => Record<string, string | number>;
  render: (item: T) => ComponentChildren;
  title: (item: T) => string;
  // the text with the token replaced by the item, and where the caret goes
  insert: (text: string, tok: Token, item: T) => { text: string; caret: number };
  // after an insertion
  onPick?: (item: T) => void;
}

// value is the text box's current value: a change that did not come from
// typing (sent and cleared, an item inserted) closes the list.
export function usePicker<T extends { id: number }>(ta: RefObject<HTMLTextAreaElement | null>, value: string, setValue: (v: string) => void, spec: PickerSpec<T>): PickerMenu {
  const [tok, setTok] = useState<Token | null>(null);
  const [active, setActive] = useState(0);
  const dismissed = useRef(-1); // the trigger (its index) Escape closed the list for
  const caret = useRef<number | null>(null);
  const seen = useRef(''); // the value the token was read from
  const enabled = spec.enabled ?? true;
  const base = spec.idBase + '-' + spec.name;
  const listId = base + '-list';
  const hintId = base + '-hint';

  // put the caret after an inserted item once the new value is rendered
  useEffect(() => {
    const el = ta.current;
    if (caret.current === null || !el) return;
    el.focus();
    el.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  });

  const shown = enabled && tok && tok.start !== dismissed.current && seen.current === value ? tok : null;
  const matches = shown ? spec.filter(shown.query).slice(0, spec.max) : [];
  const open = !!shown && matches.length > 0;
  const cur = Math.min(active, Math.max(0, matches.length - 1));
  const optId = (x: T) => `${listId}-${x.id}`;

  useEffect(() => {
    if (open) document.getElementById(optId(matches[cur]))?.scrollIntoView({ block: 'nearest' });
  }, [open, cur, shown?.query]);

  const sync = () => {
    const el = ta.current;
    if (!el) return;
    seen.current = el.value;
    const t = enabled && el.selectionStart === el.selectionEnd ? spec.find(el.value, el.selectionStart ?? el.value.length) : null;
    if (!t) dismissed.current = -1;
    if (!t || !tok || tok.start !== t.start || tok.query !== t.query) setActive(0);
    setTok(t);
    if (t) spec.onToken?.();
  };

  const insert = (x: T) => {
    const el = ta.current;
    if (!el || !shown) return;
    const out = spec.insert(el.value, shown, x);
    spec.onPick?.(x);
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
    'aria-describedby': enabled ? hintId : undefined,
    onClick: sync,
    onKeyUp: (e: KeyboardEvent) => {
      if (['ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown'].includes(e.key) || (!open && (e.key === 'ArrowUp' || e.key === 'ArrowDown'))) sync();
    },
  };

  let popup: VNode | null = null;
  if (open) {
    popup = (
      <div class={spec.menuClass ? 'qr-menu ' + spec.menuClass : 'qr-menu'} id={base}>
        <ul role="listbox" id={listId} class="qr-options" aria-label={spec.label}>
          {matches.map((x, i) => (
            <li role="option" id={optId(x)} key={x.id} aria-selected={i === cur} class={i === cur ? 'qr-option current' : 'qr-option'} {...spec.data(x)}
              onMouseDown={(e) => e.preventDefault()} onMouseMove={() => i !== cur && setActive(i)} onClick={() => insert(x)}>
              {spec.render(x)}
            </li>
          ))}
        </ul>
        <p class="qr-keys" aria-hidden="true">↑↓ choose · Enter or Tab insert · Esc close</p>
      </div>
    );
  } else if (shown) {
    const empty = spec.empty(shown.query);
    if (empty) popup = <div class="qr-menu qr-empty" id={base}>{empty}</div>;
  }
  const n = matches.length;
  return {
    attrs,
    onKeyDown,
    sync,
    blur: () => setTok(null),
    popup: (
      <>
        {popup}
        {enabled && <span class="sr-only" id={hintId}>{spec.hint}</span>}
        <span class="sr-only" role="status" aria-live="polite">{open ? `${n} ${spec.nouns[n === 1 ? 0 : 1]}, ${spec.title(matches[cur])} selected. Up and Down to choose, Enter to insert.` : ''}</span>
      </>
    ),
  };
}

// bothMenus lets one text box have two lists (quick replies and
// colleagues): keys go to whichever is open, both follow the caret.
export function bothMenus(a: PickerMenu, b: PickerMenu): PickerMenu {
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
