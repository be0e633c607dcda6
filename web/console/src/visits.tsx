// The customer sidebar's visit facts and history: local time, place,
// language, visits and the pages viewed (this visit and earlier ones), from
// GET /api/v1/contacts/{id}/visits. Fetched again when the visitor moves to
// another page (presence events), so the list follows them.

import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import { store } from './client';
import { isSet } from './store';
import type { ContactVisits } from './types';
import { errText } from './ui';
import { ago, clock } from './util';
import { groupVisits, localTime, pageLabel, place } from './visitinfo';

// useVisits loads a contact's visit history, again whenever their current
// page or online state changes.
export function useVisits(contactId: number): { v: ContactVisits | null; err: string } {
  const [v, setV] = useState<ContactVisits | null>(null);
  const [err, setErr] = useState('');
  const p = store.presenceOf(contactId);
  const key = p ? `${p.url}\n${p.title}` : 'offline';
  useEffect(() => {
    let live = true;
    // the server writes history just after the presence ack: wait a moment
    const t = setTimeout(() => {
      api<ContactVisits>('GET', `/contacts/${contactId}/visits`).then(
        (got) => live && (setV(got), setErr('')),
        (x) => live && setErr(errText(x)),
      );
    }, v ? 400 : 0);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [contactId, key]);
  return { v: v && v.contact_id === contactId ? v : null, err };
}

// VisitFacts are the <dt>/<dd> rows for the Customer panel's list.
export function VisitFacts({ v }: { v: ContactVisits | null }) {
  if (!v) return null;
  const local = localTime(v.timezone);
  const where = place(v.country, v.city);
  return (
    <>
      {local && <><dt>Local time</dt><dd id="customer-local-time" title={v.timezone}>{local.time} <span class="muted small">({local.offset})</span></dd></>}
      {v.timezone && !local && <><dt>Time zone</dt><dd id="customer-timezone">{v.timezone}</dd></>}
      {where && <><dt>Location</dt><dd id="customer-location">{where}</dd></>}
      {v.locale && <><dt>Language</dt><dd id="customer-locale">{v.locale}</dd></>}
      <dt>Visits</dt>
      <dd id="customer-visits">
        {v.visits === 0 ? <span class="muted">Not seen on the site</span> : (
          <>{v.visits} · first <time dateTime={v.first_seen} title={v.first_seen}>{clock(v.first_seen)}</time>, last <time dateTime={v.last_seen} title={v.last_seen}>{ago(v.last_seen)}{ago(v.last_seen) === 'just now' ? '' : ' ago'}</time></>
        )}
      </dd>
    </>
  );
}

// VisitHistory lists the pages viewed, grouped by visit, newest first.
export function VisitHistory({ contactId, v, err }: { contactId: number; v: ContactVisits | null; err: string }) {
  const online = store.isOnline(contactId);
  const groups = v ? groupVisits(v.views) : [];
  return (
    <section class="panel" aria-labelledby="visits-title">
      <h2 id="visits-title">Visit history</h2>
      {err && <p class="form-error inline" role="alert">{err}</p>}
      {!v && !err && <p class="muted small" aria-busy="true">Loading…</p>}
      {v && groups.length === 0 && <p class="muted small">No pages recorded yet.</p>}
      {groups.length > 0 && (
        <ol class="visits" id="visit-history" aria-label="Visits, newest first">
          {groups.map((g, i) => {
            const first = g.views[g.views.length - 1]!;
            const label = i === 0 && g.visit === v!.visits ? (online ? 'This visit' : 'Last visit') : `Visit ${g.visit}`;
            return (
              <li key={g.visit} data-visit={g.visit} class={label === 'This visit' ? 'current' : undefined}>
                <div class="visit-head">
                  <strong>{label}</strong>
                  <time class="muted" dateTime={first.viewed_at}>{clock(first.viewed_at)}</time>
                </div>
                <ol class="pages" aria-label={`${label}: ${g.views.length} page${g.views.length === 1 ? '' : 's'}`}>
                  {g.views.map((pv) => (
                    <li key={pv.id} class="page">
                      <time dateTime={pv.viewed_at} class="muted">{isSet(pv.viewed_at) ? new Date(pv.viewed_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : ''}</time>
                      <span class="ellipsis" title={pv.url}>{pageLabel(pv)}</span>
                    </li>
                  ))}
                </ol>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

// VisitPanels is the visit facts and history as panels of their own (the
// ticket view's sidebar, whose Customer panel comes before its data).
export function VisitPanels({ contactId }: { contactId: number }) {
  const { v, err } = useVisits(contactId);
  return (
    <>
      {v && v.visits > 0 && (
        <section class="panel" aria-labelledby="visit-facts-title">
          <h2 id="visit-facts-title">On the site</h2>
          <dl><VisitFacts v={v} /></dl>
        </section>
      )}
      <VisitHistory contactId={contactId} v={v} err={err} />
    </>
  );
}
