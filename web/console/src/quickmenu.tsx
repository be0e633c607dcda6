// The quick-reply list of a reply box: "/" at the start of a word opens a
// listbox under the caret's word, filtered as the agent types; Up/Down
// move, Enter or Tab insert, Escape closes, and the mouse works too. Focus
// stays in the text box (aria-activedescendant points at the option).

import { useEffect, useRef, useState } from 'preact/hooks';
import type { RefObject, VNode } from 'preact';
import { client } from './client';
import { linkProps } from './route';
import { insertReply, isShared, matchReplies, slashQuery, type SlashToken } from './quickreplies';
import type { QuickReply } from './types';

const MAX = 50;

export interface QuickMenu {
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

// value is the text box's current value: a change that did not come from
// typing (sent and cleared, a reply inserted) closes the list.
export function useQuickMenu(ta: RefObject<HTMLTextAreaElement | null>, value: string, setValue: (v: string) => void, idBase: string): QuickMenu {
  const [tok, setTok] = useState<SlashToken | null>(null);
  const [active, setActive] = useState(0);
  const [failed, setFailed] = useState(false);
  const dismissed = useRef(-1); // the "/" (its index) Escape closed the list for
  const caret = useRef<number | null>(null);
  const seen = useRef(''); // the value the token was read from
  const listId = idBase + '-qr-list';

  // the list is loaded once per session, when a reply box first shows
  useEffect(() => {
    client.loadQuickReplies().then(() => setFailed(false), () => setFailed(true));
  }, []);

  // put the caret after an inserted reply once the new value is rendered
  useEffect(() => {
    const el = ta.current;
    if (caret.current === null || !el) return;
    el.focus();
    el.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  });

  const list = client.quickReplies;
  const shown = tok && tok.start !== dismissed.current && seen.current === value ? tok : null;
  const matches: QuickReply[] = shown && list ? matchReplies(list, shown.query).slice(0, MAX) : [];
  const open = !!shown && matches.length > 0;
  const cur = Math.min(active, Math.max(0, matches.length - 1));
  const optId = (r: QuickReply) => `${listId}-${r.id}`;

  useEffect(() => {
    if (open) document.getElementById(optId(matches[cur]))?.scrollIntoView({ block: 'nearest' });
  }, [open, cur, shown?.query]);

  const sync = () => {
    const el = ta.current;
    if (!el) return;
    seen.current = el.value;
    const t = el.selectionStart === el.selectionEnd ? slashQuery(el.value, el.selectionStart ?? el.value.length) : null;
    if (!t) dismissed.current = -1;
    if (!t || !tok || tok.start !== t.start || tok.query !== t.query) setActive(0);
    setTok(t);
    if (t && failed) {
      setFailed(false);
      client.loadQuickReplies().catch(() => setFailed(true));
    }
  };

  const close = () => {
    if (tok) dismissed.current = tok.start;
    setTok(null);
  };

  const insert = (r: QuickReply) => {
    const el = ta.current;
    if (!el || !shown) return;
    const out = insertReply(el.value, shown, r.body);
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
        close();
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
    'aria-describedby': idBase + '-qr-hint',
    onClick: sync,
    onKeyUp: (e: KeyboardEvent) => {
      if (['ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown'].includes(e.key) || (!open && (e.key === 'ArrowUp' || e.key === 'ArrowDown'))) sync();
    },
  };

  let popup: VNode | null = null;
  if (open) {
    popup = (
      <div class="qr-menu" id={idBase + '-qr'}>
        <ul role="listbox" id={listId} class="qr-options" aria-label="Quick replies">
          {matches.map((r, i) => (
            <li role="option" id={optId(r)} key={r.id} aria-selected={i === cur} class={i === cur ? 'qr-option current' : 'qr-option'} data-shortcut={r.shortcut}
              onMouseDown={(e) => e.preventDefault()} onMouseMove={() => i !== cur && setActive(i)} onClick={() => insert(r)}>
              <span class="qr-shortcut">/{r.shortcut}</span>
              {isShared(r) && <span class="qr-shared">Shared</span>}
              <span class="qr-body">{r.body}</span>
            </li>
          ))}
        </ul>
        <p class="qr-keys" aria-hidden="true">↑↓ choose · Enter or Tab insert · Esc close</p>
      </div>
    );
  } else if (shown && (failed || (list && !shown.query && list.length === 0))) {
    popup = (
      <div class="qr-menu qr-empty" id={idBase + '-qr'}>
        {failed ? 'Quick replies could not be loaded.' : <>No quick replies yet. <a {...linkProps('quick-replies')} onMouseDown={(e) => e.preventDefault()}>Add one</a></>}
      </div>
    );
  }
  return {
    attrs,
    onKeyDown,
    sync,
    blur: () => setTok(null),
    popup: (
      <>
        {popup}
        <span class="sr-only" id={idBase + '-qr-hint'}>Type / to insert a quick reply.</span>
        <span class="sr-only" role="status" aria-live="polite">{open ? `${matches.length} ${matches.length === 1 ? 'quick reply' : 'quick replies'}, ${matches[cur].shortcut} selected. Up and Down to choose, Enter to insert.` : ''}</span>
      </>
    ),
  };
}
