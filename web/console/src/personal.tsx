// The agent's own screens: Quick replies (shared ones, managed by admins,
// and personal ones) and Preferences (capacity, notifications, sound).

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, store } from './client';
import { askNotifications, notificationsState } from './notify';
import { prefs, setPrefs, type Prefs } from './prefs';
import { isShared } from './quickreplies';
import { linkProps } from './route';
import { CapacityControl } from './routing';
import type { QuickReply } from './types';
import { errText } from './ui';

// ---------- quick replies ----------

// which field a server error is about
const fieldOf: Record<string, 'shortcut' | 'body'> = { invalid_shortcut: 'shortcut', shortcut_taken: 'shortcut', invalid_body: 'body' };

function qrError(e: unknown, shared: boolean): string {
  return errText(e, {
    invalid_shortcut: 'A shortcut is 1 to 32 characters: letters a–z, digits, - and _ (no spaces).',
    invalid_body: 'Write the text of the reply: at most 4000 bytes.',
    shortcut_taken: shared ? 'A shared quick reply already uses this shortcut. Pick another.' : 'You already have a quick reply with this shortcut. Pick another.',
    admin_only: 'Only admins can add or change shared quick replies.',
    quick_reply_not_found: 'This quick reply no longer exists.',
  });
}

export function QuickRepliesScreen() {
  const admin = store.me?.role === 'admin';
  const [err, setErr] = useState('');
  useEffect(() => {
    // a visit fetches the list again: admins may have changed shared ones
    client.loadQuickReplies(true).then(() => setErr(''), (x) => setErr(errText(x)));
  }, []);
  const list = client.quickReplies;
  const mine = (list ?? []).filter((r) => !isShared(r));
  const shared = (list ?? []).filter(isShared);
  return (
    <section class="screen qr-screen" aria-labelledby="qr-title">
      <div class="screen-head">
        <h1 id="qr-title">Quick replies</h1>
        <p class="muted">Type <kbd>/</kbd> and a few letters of the shortcut or text in any reply box, then pick a reply with ↑ ↓ and Enter.</p>
      </div>
      <section class="panel settings-form" aria-labelledby="qr-new-title">
        <h2 id="qr-new-title">New quick reply</h2>
        <ReplyForm admin={admin} idBase="qr" />
      </section>
      {err && <p class="form-error" role="alert" id="qr-load-error">{err}</p>}
      {!list && !err && <p class="muted" aria-busy="true">Loading quick replies…</p>}
      {list && (
        <>
          <ReplyList id="qr-mine" title="Mine" hint="Only you see these." rows={mine} editable empty="You have no quick replies of your own yet." />
          <ReplyList id="qr-shared" title="Shared" hint={admin ? 'Everyone sees these. Only admins change them.' : 'Everyone sees these. Admins manage them, so they are read-only for you.'}
            rows={shared} editable={admin} empty="No shared quick replies yet." />
        </>
      )}
    </section>
  );
}

function ReplyList({ id, title, hint, rows, editable, empty }: { id: string; title: string; hint: string; rows: QuickReply[]; editable: boolean; empty: string }) {
  const head = useRef<HTMLHeadingElement>(null);
  return (
    <section class="qr-group" aria-labelledby={id + '-title'}>
      <h2 id={id + '-title'} tabIndex={-1} ref={head}>{title} <span class="badge">{rows.length}</span></h2>
      <p class="hint">{hint}</p>
      {rows.length === 0 ? (
        <p class="empty-note">{empty}</p>
      ) : (
        <ul class="qr-list" id={id}>
          {rows.map((r) => <ReplyItem r={r} key={r.id} editable={editable} onDeleted={() => head.current?.focus()} />)}
        </ul>
      )}
    </section>
  );
}

function ReplyItem({ r, editable, onDeleted }: { r: QuickReply; editable: boolean; onDeleted: () => void }) {
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const editBtn = useRef<HTMLButtonElement>(null);
  const yesBtn = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (refocus.current && !editing && !confirm) editBtn.current?.focus();
    refocus.current = false;
    if (confirm) yesBtn.current?.focus();
  }, [editing, confirm]);
  const shared = isShared(r);
  const done = () => {
    refocus.current = true;
    setEditing(false);
    setConfirm(false);
  };
  const remove = () => {
    setBusy(true);
    setErr('');
    client.deleteQuickReply(r.id).then(onDeleted, (x) => setErr(qrError(x, shared))).finally(() => setBusy(false));
  };
  if (editing) {
    return (
      <li class="qr-item editing" data-id={r.id} data-shortcut={r.shortcut}>
        <ReplyForm reply={r} admin={false} idBase={`qr-edit-${r.id}`} onDone={done} />
      </li>
    );
  }
  return (
    <li class="qr-item" data-id={r.id} data-shortcut={r.shortcut}>
      <div class="qr-item-head">
        <code class="qr-shortcut">/{r.shortcut}</code>
        {shared && <span class="qr-shared">Shared</span>}
        {editable && (
          <span class="qr-actions">
            {confirm ? (
              <span class="confirm" role="group" aria-label={`Delete /${r.shortcut}?`}>
                <span>Delete /{r.shortcut}{shared ? ' for everyone' : ''}?</span>
                <button class="btn danger small qr-delete-yes" ref={yesBtn} disabled={busy} onClick={remove}>Delete</button>
                <button class="btn small" disabled={busy} onClick={done}>Keep</button>
              </span>
            ) : (
              <>
                <button class="btn small qr-edit" ref={editBtn} aria-label={`Edit /${r.shortcut}`} onClick={() => setEditing(true)}>Edit</button>
                <button class="btn ghost small qr-delete" aria-label={`Delete /${r.shortcut}`} onClick={() => setConfirm(true)}>Delete</button>
              </>
            )}
          </span>
        )}
      </div>
      <p class="qr-item-body">{r.body}</p>
      {err && <p class="form-error inline" role="alert">{err}</p>}
    </li>
  );
}

// ReplyForm adds a quick reply (no reply) or edits one (onDone: saved or
// cancelled). Server errors show under the form and mark the field.
function ReplyForm({ reply, admin, idBase, onDone }: { reply?: QuickReply; admin: boolean; idBase: string; onDone?: () => void }) {
  const [shortcut, setShortcut] = useState(reply?.shortcut ?? '');
  const [body, setBody] = useState(reply?.body ?? '');
  const [shared, setShared] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<{ text: string; field?: 'shortcut' | 'body' } | null>(null);
  const [saved, setSaved] = useState('');
  const shortcutIn = useRef<HTMLInputElement>(null);
  const bodyIn = useRef<HTMLTextAreaElement>(null);
  const editing = !!reply;
  useEffect(() => {
    if (editing) shortcutIn.current?.focus();
  }, []);

  const submit = async (ev?: Event) => {
    ev?.preventDefault();
    if (busy) return;
    setBusy(true);
    setErr(null);
    setSaved('');
    const sharedOne = editing ? !reply.owner_id : admin && shared;
    try {
      const r = await client.saveQuickReply(reply?.id ?? 0, { shortcut: shortcut.trim(), body, ...(sharedOne && !editing ? { shared: true } : {}) });
      if (editing) {
        onDone?.();
        return;
      }
      setShortcut('');
      setBody('');
      setSaved(`Added /${r.shortcut}${sharedOne ? ' for everyone' : ''}.`);
      shortcutIn.current?.focus();
    } catch (x) {
      const code = (x as { code?: string }).code ?? '';
      const field = fieldOf[code];
      setErr({ text: qrError(x, sharedOne), field });
      (field === 'body' ? bodyIn : shortcutIn).current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const errId = idBase + '-error';
  return (
    <form class="qr-form" id={idBase + '-form'} onSubmit={submit} aria-label={editing ? `Edit /${reply.shortcut}` : 'New quick reply'}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && onDone) {
          e.preventDefault();
          onDone();
        }
      }}>
      <div class="qr-fields">
        <label class="field qr-shortcut-field">Shortcut
          <span class="qr-slash">
            <span aria-hidden="true">/</span>
            <input id={idBase + '-shortcut'} ref={shortcutIn} value={shortcut} required maxLength={40} autocomplete="off" spellcheck={false}
              placeholder="e.g. refund" aria-describedby={`${idBase}-shortcut-hint${err?.field === 'shortcut' ? ' ' + errId : ''}`} aria-invalid={err?.field === 'shortcut'}
              onInput={(e) => setShortcut((e.currentTarget as HTMLInputElement).value)} />
          </span>
          <span class="hint" id={idBase + '-shortcut-hint'}>Letters a–z, digits, - and _; up to 32.</span>
        </label>
        <label class="field qr-body-field">Text
          <textarea id={idBase + '-body'} ref={bodyIn} value={body} rows={3} required aria-invalid={err?.field === 'body'} aria-describedby={err?.field === 'body' ? errId : undefined}
            onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
            }} />
        </label>
      </div>
      {admin && !editing && (
        <label class="check">
          <input type="checkbox" id={idBase + '-share'} checked={shared} onChange={(e) => setShared((e.currentTarget as HTMLInputElement).checked)} />
          Shared: the whole team can use it
        </label>
      )}
      {err && <p class="form-error" role="alert" id={errId}>{err.text}</p>}
      <div class="form-actions">
        {saved && <span class="saved" role="status" id={idBase + '-saved'}>{saved}</span>}
        {onDone && <button type="button" class="btn" onClick={onDone}>Cancel</button>}
        <button type="submit" class="btn primary" id={idBase + '-submit'} disabled={busy}>{editing ? 'Save' : 'Add quick reply'}</button>
      </div>
    </form>
  );
}

// ---------- preferences ----------

const permissionText: Record<string, string> = {
  granted: 'Allowed in this browser.',
  denied: 'Blocked in this browser: allow notifications for this site in the browser’s site settings.',
  default: 'The browser asks for permission once.',
  unsupported: 'This browser cannot show desktop notifications.',
};

const avatarErrors: Record<string, string> = {
  file_type_not_allowed: 'Choose a PNG, JPEG, GIF or WebP image.',
  file_too_large: 'The picture is larger than 1 MB: choose a smaller one.',
  empty_file: 'The file is empty.',
};

// AvatarControl uploads or removes my profile picture, which customers see
// next to my name in the chat widget.
function AvatarControl() {
  const me = store.me!;
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const run = (p: Promise<void>) => {
    setBusy(true);
    setErr('');
    p.then(
      () => setBusy(false),
      (x) => {
        setBusy(false);
        setErr(errText(x, avatarErrors));
      },
    );
  };
  const pick = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const f = input.files?.[0];
    input.value = ''; // choosing the same file again still uploads
    if (!f) return;
    if (f.size > 1 << 20) return setErr(avatarErrors.file_too_large);
    run(client.setAvatar(f));
  };
  return (
    <section class="panel settings-form" aria-labelledby="prefs-avatar-title">
      <h2 id="prefs-avatar-title">Profile picture</h2>
      <div class="pref avatar-pref">
        {me.avatar_url
          ? <img class="avatar large" id="prefs-avatar-preview" src={me.avatar_url} alt={`Profile picture of ${me.name}`} />
          : <span class="avatar large" id="prefs-avatar-preview" aria-hidden="true">{me.name.split(/\s+/).map((w) => w.charAt(0)).join('').slice(0, 2).toUpperCase()}</span>}
        <label class="btn small">
          {me.avatar_url ? 'Change picture' : 'Upload picture'}
          <input type="file" id="prefs-avatar-file" class="sr-only" accept="image/png,image/jpeg,image/gif,image/webp" disabled={busy} onChange={pick} />
        </label>
        {me.avatar_url && (
          <button type="button" class="btn ghost small" id="prefs-avatar-remove" disabled={busy} onClick={() => run(client.removeAvatar())}>Remove</button>
        )}
        <span class="hint">Customers see it next to your name in the chat widget. PNG, JPEG, GIF or WebP, up to 1 MB.</span>
      </div>
      {err && <p class="form-error" role="alert" id="prefs-avatar-error">{err}</p>}
    </section>
  );
}

export function PreferencesScreen() {
  const p = prefs();
  const [capErr, setCapErr] = useState('');
  const [status, setStatus] = useState('');
  const perm = notificationsState();
  const set = (patch: Partial<Prefs>) => {
    setStatus(setPrefs(patch) ? 'Saved.' : 'This browser does not keep settings: they apply until you reload.');
  };
  const ask = () => void askNotifications().then(() => store.changed());
  const check = (id: string, key: keyof Prefs, label: string, hint: string, disabled = false) => (
    <div class={disabled ? 'pref disabled' : 'pref'}>
      <label class="check">
        <input type="checkbox" id={id} checked={p[key]} disabled={disabled} aria-describedby={id + '-hint'}
          onChange={(e) => {
            const on = (e.currentTarget as HTMLInputElement).checked;
            set({ [key]: on });
            if (key === 'desktop' && on && perm === 'default') ask(); // from the click: browsers require one
          }} />
        {label}
      </label>
      <span class="hint" id={id + '-hint'}>{hint}</span>
    </div>
  );
  return (
    <section class="screen settings prefs" aria-labelledby="prefs-title">
      <div class="screen-head">
        <h1 id="prefs-title">Preferences</h1>
        <p class="muted">Notification and sound settings are kept in this browser for your account; capacity is saved with your account.</p>
      </div>
      <AvatarControl />
      <section class="panel settings-form" aria-labelledby="prefs-chats-title">
        <h2 id="prefs-chats-title">Capacity</h2>
        <div class="pref">
          <CapacityControl onErr={setCapErr} prefix="prefs-" />
          <span class="hint">Chats you are in or offered, and the most you take at once. Routing offers you no more than that.</span>
        </div>
        {capErr && <p class="form-error" role="alert" id="prefs-capacity-error">{capErr}</p>}
      </section>
      <fieldset class="panel settings-form prefs-notify">
        <legend>Notifications and sound</legend>
        {check('pref-desktop', 'desktop', 'Desktop notifications', permissionText[perm] ?? '')}
        {p.desktop && perm === 'default' && (
          <button type="button" class="btn small" id="pref-allow" onClick={ask}>Allow notifications in this browser</button>
        )}
        <div class="pref-sub" role="group" aria-label="Notify me about">
          {check('pref-new-chats', 'newChats', 'New chats', 'A customer is waiting, or a chat is offered to you.', !p.desktop)}
          {check('pref-new-messages', 'newMessages', 'New messages', 'A customer writes in one of your chats that is not on screen.', !p.desktop)}
          {check('pref-mentions', 'mentions', 'Mentions', 'A colleague @-mentions you in an internal note: a banner in the console, and a desktop notification when those are on.')}
        </div>
        {check('pref-sound', 'sound', 'Sound', 'A chime when a chat is offered to you.')}
        <p class="saved" role="status" id="prefs-status">{status}</p>
      </fieldset>
      <section class="panel settings-form" aria-labelledby="prefs-qr-title">
        <h2 id="prefs-qr-title">Quick replies</h2>
        <p>Canned answers you insert by typing <kbd>/</kbd> in a reply box. <a {...linkProps('quick-replies')} id="prefs-quick-replies">Manage quick replies</a></p>
      </section>
    </section>
  );
}
