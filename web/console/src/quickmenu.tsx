// The quick-reply list of a reply box: "/" at the start of a word opens the
// list (see picker.tsx), filtered by shortcut and text; the chosen reply
// replaces the "/query".

import { useEffect, useState } from 'preact/hooks';
import type { RefObject } from 'preact';
import { client } from './client';
import { linkProps } from './route';
import { insertReply, isShared, matchReplies, slashQuery } from './quickreplies';
import { usePicker, type PickerMenu } from './picker';
import type { QuickReply } from './types';

export type QuickMenu = PickerMenu;

// value is the text box's current value: a change that did not come from
// typing (sent and cleared, a reply inserted) closes the list.
export function useQuickMenu(ta: RefObject<HTMLTextAreaElement | null>, value: string, setValue: (v: string) => void, idBase: string): QuickMenu {
  const [failed, setFailed] = useState(false);

  // the list is loaded once per session, when a reply box first shows
  useEffect(() => {
    client.loadQuickReplies().then(() => setFailed(false), () => setFailed(true));
  }, []);

  const list = client.quickReplies;
  return usePicker<QuickReply>(ta, value, setValue, {
    idBase,
    name: 'qr',
    label: 'Quick replies',
    hint: 'Type / to insert a quick reply.',
    nouns: ['quick reply', 'quick replies'],
    max: 50,
    find: slashQuery,
    filter: (q) => (list ? matchReplies(list, q) : []),
    onToken: () => {
      if (!failed) return;
      setFailed(false);
      client.loadQuickReplies().catch(() => setFailed(true));
    },
    empty: (q) =>
      failed ? 'Quick replies could not be loaded.' : list && !q && list.length === 0 && <>No quick replies yet. <a {...linkProps('quick-replies')} onMouseDown={(e) => e.preventDefault()}>Add one</a></>,
    data: (r) => ({ 'data-shortcut': r.shortcut }),
    render: (r) => (
      <>
        <span class="qr-shortcut">/{r.shortcut}</span>
        {isShared(r) && <span class="qr-shared">Shared</span>}
        <span class="qr-body">{r.body}</span>
      </>
    ),
    title: (r) => r.shortcut,
    insert: (text, tok, r) => insertReply(text, tok, r.body),
  });
}
