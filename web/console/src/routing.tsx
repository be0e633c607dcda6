// Routing in the agent's hands: the incoming-offer cards, the transfer /
// invite / assign dialog, and the capacity preference.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, offerTitle, store } from './client';
import { isSet, type PendingOffer } from './store';
import type { TransferTargets } from './types';
import { customerName } from './util';
import { errText, Modal } from './ui';

const availLabel: Record<string, string> = { available: 'Available', busy: 'Busy', away: 'Away', offline: 'Offline' };

// secondsLeft until an offer expires (null: it does not).
function secondsLeft(p: PendingOffer, now: number): number | null {
  if (!isSet(p.offer.expires_at)) return null;
  return Math.max(0, Math.ceil((Date.parse(p.offer.expires_at!) - now) / 1000));
}

// OfferCards shows every chat offered to me, oldest first, with Accept and
// Decline. Cards leave when the offer resolves, the chat is taken or ends,
// or the offer expires.
export function OfferCards() {
  const offers = store.pendingOffers();
  const [, tick] = useState(0);
  const [busy, setBusy] = useState(0);
  const [errs, setErrs] = useState<Record<number, string>>({});
  const timed = offers.some((p) => isSet(p.offer.expires_at));
  useEffect(() => {
    if (!timed) return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [timed]);
  if (!offers.length) return null;
  const now = Date.now();
  const run = (id: number, p: Promise<void>, then?: () => void) => {
    setBusy(id);
    setErrs((m) => ({ ...m, [id]: '' }));
    p.then(
      () => then?.(),
      (x) => setErrs((m) => ({ ...m, [id]: errText(x) })),
    ).finally(() => setBusy(0));
  };
  const latest = offers[offers.length - 1];
  return (
    <div class="offers" id="offers" aria-label="Chats offered to you" role="region">
      <p class="sr-only" role="status">{`${offerTitle(latest.offer)}: ${customerName(latest.entry)}`}</p>
      {offers.map((p) => {
        const c = p.entry.conv;
        const left = secondsLeft(p, now);
        const total = isSet(p.offer.offered_at) && isSet(p.offer.expires_at) ? (Date.parse(p.offer.expires_at!) - Date.parse(p.offer.offered_at!)) / 1000 : 0;
        const err = errs[c.id];
        return (
          <section class={`offer-card offer-${p.offer.kind ?? 'route'}`} data-conv={c.id} key={p.offer.chat_id} aria-labelledby={`offer-${c.id}-title`}>
            <div class="offer-head">
              <h2 class="offer-kind" id={`offer-${c.id}-title`}>{offerTitle(p.offer)}</h2>
              {left !== null && (
                <span class="offer-countdown" title="Answer before the chat goes to someone else">
                  <span aria-hidden="true">{left} s</span>
                  <span class="sr-only">Answer within {Math.round(total) || left} seconds</span>
                </span>
              )}
            </div>
            {left !== null && total > 0 && <div class="offer-timer" aria-hidden="true"><i style={{ width: `${Math.min(100, (left / total) * 100)}%` }} /></div>}
            <p class="offer-who">{customerName(p.entry)}</p>
            <p class="offer-preview">{c.preview || 'No message yet'}</p>
            {err && <p class="form-error inline" role="alert">{err}</p>}
            <div class="offer-actions">
              <button class="btn primary offer-accept" disabled={busy === c.id} onClick={() => run(c.id, client.accept(c.id), () => client.onNavigate('c/' + c.id))}>Accept</button>
              <button class="btn offer-decline" disabled={busy === c.id} onClick={() => run(c.id, client.decline(c.id))}>Decline</button>
              <button class="btn ghost small offer-view" onClick={() => client.onNavigate('c/' + c.id)}>View</button>
            </div>
          </section>
        );
      })}
    </div>
  );
}

export type HandOverKind = 'transfer' | 'invite' | 'assign';

const handOverText: Record<HandOverKind, { title: string; intro: string }> = {
  transfer: { title: 'Transfer this chat', intro: 'The agent you pick is offered the chat and you leave when they accept. A department gets it in its queue at once.' },
  invite: { title: 'Invite a colleague', intro: 'The colleague you pick is asked to join; you both stay in the chat.' },
  assign: { title: 'Assign this chat', intro: 'The agent you pick is offered this chat alone. If someone is in it, they leave when the new agent accepts.' },
};

// HandOverDialog lists who can take the chat now (GET transfer-targets) and
// hands it over on a click. Errors name what went wrong and the list reloads.
export function HandOverDialog({ id, kind, onClose }: { id: number; kind: HandOverKind; onClose: () => void }) {
  const [targets, setTargets] = useState<TransferTargets | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const focused = useRef(false);
  const load = () =>
    client.targets(id).then(
      (t) => setTargets({ agents: t.agents ?? [], departments: t.departments ?? [] }),
      (x) => {
        setTargets({ agents: [], departments: [] });
        setErr(errText(x));
      },
    );
  useEffect(() => {
    void load();
  }, [id]);
  useEffect(() => {
    // focus the first choice once the list is in
    if (!targets || focused.current) return;
    focused.current = true;
    list.current?.querySelector<HTMLElement>('button.target')?.focus();
  }, [targets]);

  const pick = async (target: { user_id: number } | { department_id: number }, name: string, dept: boolean) => {
    setBusy(true);
    setErr('');
    try {
      await client.handOver(kind, id, target);
      client.setNotice(
        kind === 'invite' ? `Invited ${name}. They join when they accept.`
        : dept ? `Sent to the ${name} queue.`
        : kind === 'transfer' ? `Offered to ${name}. You leave the chat when they accept.`
        : `Offered to ${name}.`,
      );
      onClose();
    } catch (x) {
      setErr(errText(x, { not_a_participant: 'You are no longer in this chat.', chat_ended: 'This chat has already ended.' }));
      void load();
    } finally {
      setBusy(false);
    }
  };

  const t = handOverText[kind];
  const agents = targets?.agents ?? [];
  const depts = kind === 'transfer' ? (targets?.departments ?? []) : [];
  return (
    <Modal title={t.title} onClose={onClose} id="handover" wide>
      <p class="muted">{t.intro}</p>
      {err && <p class="form-error" role="alert" id="handover-error">{err}</p>}
      <div ref={list} aria-busy={!targets}>
        {!targets ? (
          <p class="muted">Loading who is available…</p>
        ) : agents.length === 0 && depts.length === 0 ? (
          <p class="empty-note" id="handover-empty">Nobody can take a chat right now: no colleague is available with room.</p>
        ) : (
          <>
            {agents.length > 0 && (
              <>
                <h3 class="targets-title">Agents</h3>
                <ul class="targets" aria-label="Agents">
                  {agents.map((a) => (
                    <li key={a.id}>
                      <button class="target" data-user={a.id} disabled={busy} onClick={() => void pick({ user_id: a.id }, a.name, false)}>
                        <span class={`dot avail-dot-${a.availability}`} aria-hidden="true" />
                        <span class="target-name">{a.name}</span>
                        <span class="muted">{availLabel[a.availability] ?? a.availability} · {a.load}/{a.capacity} chats</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </>
            )}
            {depts.length > 0 && (
              <>
                <h3 class="targets-title">Departments</h3>
                <ul class="targets" aria-label="Departments">
                  {depts.map((d) => (
                    <li key={d.id}>
                      <button class="target" data-dept={d.id} disabled={busy} onClick={() => void pick({ department_id: d.id }, d.name, true)}>
                        <span class="target-name">{d.name}</span>
                        <span class="muted">{d.available} {d.available === 1 ? 'agent' : 'agents'} available</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </div>
      <div class="modal-actions">
        <button class="btn ghost" onClick={() => void load()} disabled={busy}>Refresh</button>
        <button class="btn" data-autofocus onClick={onClose} id="handover-cancel">Cancel</button>
      </div>
    </Modal>
  );
}

// CapacityControl: my load and the most chats I take at once (0 to the
// maximum an admin set), saved on change. The top bar and Preferences both
// show it; prefix keeps their element ids apart.
export function CapacityControl({ onErr, prefix = '' }: { onErr: (s: string) => void; prefix?: string }) {
  const me = store.me!;
  const max = Math.max(me.max_capacity ?? 0, me.capacity);
  const [val, setVal] = useState(String(me.capacity));
  useEffect(() => setVal(String(me.capacity)), [me.capacity]);
  const load = store.myLoad();
  // only the latest change reports: a slow save must not clear the error of
  // a change made after it
  const last = useRef(0);
  const commit = (e: Event) => {
    const n0 = ++last.current;
    const v = (e.currentTarget as HTMLInputElement).value;
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > max) {
      onErr(`Capacity is a whole number from 0 to ${max}.`);
      setVal(String(me.capacity));
      return;
    }
    if (n === me.capacity) return;
    client.setCapacity(n).then(
      () => n0 === last.current && onErr(''),
      (x) => {
        if (n0 !== last.current) return;
        onErr(errText(x));
        setVal(String(me.capacity));
      },
    );
  };
  return (
    <span class={load >= me.capacity ? 'capacity full' : 'capacity'} id={prefix + 'capacity'} title="Chats I am in or offered / the most I take at once">
      <span id={prefix + 'load'} class="cap-load" aria-label={`${load} chats now`}>{load}</span>
      <span aria-hidden="true">/</span>
      <input id={prefix + 'capacity-input'} type="number" inputMode="numeric" min={0} max={max} step={1} value={val}
        aria-label={`My capacity: the most chats I take at once (0 to ${max})`}
        onInput={(e) => setVal((e.currentTarget as HTMLInputElement).value)}
        onChange={commit}
        onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
      <span class="capacity-unit">chats</span>
    </span>
  );
}
