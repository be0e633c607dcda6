// Admin settings: a site's routing (strategy, timeouts, what waiting
// visitors see, business hours) and its departments.

import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { api, q } from './api';
import { draftOf, InputError, routingOf, wholeNumber, type RoutingDraft } from './forms';
import { DAYS, formFromSchedule, scheduleFromForm, type HoursForm } from './hours';
import type { Department, QueueDisplay, RoutingSettings, Site, StaffUser, Strategy } from './types';
import { errText, SaveFooter } from './ui';
import { WidgetSettingsForm } from './widgetsettings';

const strategies: [Strategy, string][] = [
  ['broadcast', 'Broadcast: every available agent sees it, the first to join takes it'],
  ['round_robin', 'Round robin: one agent at a time, in turn'],
  ['least_busy', 'Least busy: one agent at a time, the one with the fewest chats'],
  ['priority', 'Priority: urgent chats first, agents in turn'],
];

const displays: [QueueDisplay, string][] = [
  ['position_and_estimate', 'Place in the queue and estimated wait'],
  ['position', 'Place in the queue only'],
  ['estimate', 'Estimated wait only'],
  ['none', 'Nothing'],
];

const strategyName = (s: string | undefined): string => (strategies.find(([k]) => k === s)?.[1].split(':')[0] ?? 'Broadcast');

export function SettingsScreen() {
  const [sites, setSites] = useState<Site[] | null>(null);
  const [siteId, setSiteId] = useState(0);
  const [depts, setDepts] = useState<Department[]>([]);
  const [users, setUsers] = useState<StaffUser[]>([]);
  const [err, setErr] = useState('');

  useEffect(() => {
    api<{ sites: Site[] }>('GET', '/sites').then(
      (r) => {
        setSites(r.sites ?? []);
        setSiteId((id) => id || r.sites?.[0]?.id || 0);
      },
      (x) => setErr(errText(x)),
    );
    api<{ users: StaffUser[] }>('GET', '/users').then((r) => setUsers(r.users ?? []), (x) => setErr(errText(x)));
  }, []);

  const loadDepts = () => {
    if (!siteId) return;
    api<{ departments: Department[] }>('GET', '/departments' + q({ site_id: siteId })).then((r) => setDepts(r.departments ?? []), (x) => setErr(errText(x)));
  };
  useEffect(loadDepts, [siteId]);

  const site = sites?.find((s) => s.id === siteId);
  return (
    <section class="screen settings" aria-labelledby="settings-title">
      <div class="screen-head">
        <h1 id="settings-title">Settings</h1>
        <p class="muted">How chats reach agents on each site, business hours and departments.</p>
      </div>
      {err && <p class="form-error" role="alert">{err}</p>}
      {sites && sites.length === 0 && <p class="muted">No sites yet.</p>}
      {sites && sites.length > 1 && (
        <label class="field inline-field">Site
          <select id="settings-site" value={siteId} onChange={(e) => setSiteId(Number((e.currentTarget as HTMLSelectElement).value))}>
            {sites.map((s) => <option value={s.id} key={s.id}>{s.name}</option>)}
          </select>
        </label>
      )}
      {site && (
        <>
          <RoutingForm site={site} depts={depts} key={site.id} onSaved={(s) => setSites((all) => (all ?? []).map((x) => (x.id === s.id ? s : x)))} />
          <Departments site={site} depts={depts} users={users} reload={loadDepts} />
          <WidgetSettingsForm site={site} key={'w' + site.id} onSaved={(s) => setSites((all) => (all ?? []).map((x) => (x.id === s.id ? s : x)))} />
        </>
      )}
    </section>
  );
}

// ---------- routing ----------

function RoutingForm({ site, depts, onSaved }: { site: Site; depts: Department[]; onSaved: (s: Site) => void }) {
  const [d, setD] = useState<RoutingDraft>(() => draftOf(site.routing));
  const [h, setH] = useState<HoursForm>(() => formFromSchedule(site.hours));
  const [err, setErr] = useState('');
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof RoutingDraft) => (e: Event) => {
    setD({ ...d, [k]: (e.currentTarget as HTMLInputElement).value });
    setSaved(false);
  };
  const setHours = (patch: Partial<HoursForm>) => {
    setH({ ...h, ...patch });
    setSaved(false);
  };
  const single = d.strategy !== 'broadcast';

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setErr('');
    setSaved(false);
    let body: { routing: RoutingSettings; hours: unknown };
    try {
      // a default department deleted since is dropped, not refused
      const draft = depts.some((x) => String(x.id) === d.default_department_id) ? d : { ...d, default_department_id: '' };
      body = { routing: routingOf(draft), hours: scheduleFromForm(h) };
    } catch (x) {
      setErr(x instanceof InputError ? x.message : String(x));
      return;
    }
    setBusy(true);
    try {
      const s = await api<Site>('PATCH', `/sites/${site.id}`, body);
      onSaved(s);
      setD(draftOf(s.routing));
      setH(formFromSchedule(s.hours, h.timeZone));
      setSaved(true);
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };

  const zones = timeZones();
  return (
    <form class="panel settings-form" id="routing-form" onSubmit={submit} aria-labelledby="routing-title">
      <h2 id="routing-title">Routing for {site.name}</h2>
      <div class="grid2">
        <Field label="Strategy" hint="Who is offered a waiting chat.">
          <select id="routing-strategy" value={d.strategy} onChange={set('strategy')}>
            {strategies.map(([k, l]) => <option value={k} key={k}>{l}</option>)}
          </select>
        </Field>
        <Field label="Default department" hint="Where chats go when the visitor does not choose.">
          <select id="routing-default-dept" value={d.default_department_id} onChange={set('default_department_id')}>
            <option value="">None (the site's general queue)</option>
            {depts.map((x) => <option value={x.id} key={x.id}>{x.name}</option>)}
          </select>
        </Field>
        <NumField id="routing-offer-timeout" label="Offer timeout (seconds)" hint={single ? 'Time to accept before the chat goes to the next agent. Empty: 30.' : 'Only for one-agent-at-a-time strategies.'} value={d.offer_timeout_seconds} onInput={set('offer_timeout_seconds')} min={5} max={3600} placeholder="30" />
        <NumField id="routing-max-misses" label="Missed offers before Away" hint="An agent who misses this many in a row is set Away. Empty: never." value={d.max_misses} onInput={set('max_misses')} min={0} max={100} placeholder="never" />
        <NumField id="routing-max-wait" label="Longest wait (seconds)" hint="A chat nobody answers ends after this and becomes a ticket. Empty: no limit." value={d.max_wait_seconds} onInput={set('max_wait_seconds')} min={0} max={604800} placeholder="no limit" />
        <Field label="Waiting visitors see" hint="">
          <select id="routing-queue-display" value={d.queue_display} onChange={set('queue_display')}>
            {displays.map(([k, l]) => <option value={k} key={k}>{l}</option>)}
          </select>
        </Field>
        <NumField id="routing-grace" label="Disconnect grace (seconds)" hint="An agent whose console closed is set Offline after this. Empty: 60." value={d.disconnect_grace_seconds} onInput={set('disconnect_grace_seconds')} min={0} max={3600} placeholder="60" />
        <NumField id="routing-requeue" label="Requeue after (minutes)" hint="A disconnected agent's chats go back to the queue after this. Empty: keep them." value={d.requeue_after_minutes} onInput={set('requeue_after_minutes')} min={0} max={1440} placeholder="keep" />
      </div>
      <div class="grid2">
        <TextField id="routing-queue-message" label="Message while waiting" value={d.queue_message} onInput={set('queue_message')} />
        <TextField id="routing-unanswered-message" label="Message when nobody answered" value={d.unanswered_message} onInput={set('unanswered_message')} />
        <TextField id="routing-after-hours-message" label="Message outside business hours" value={d.after_hours_message} onInput={set('after_hours_message')} />
        <TextField id="routing-auto-reply" label="Automatic reply outside business hours" value={d.auto_reply} onInput={set('auto_reply')} />
      </div>

      <fieldset class="hours" aria-describedby="hours-help">
        <legend>Business hours</legend>
        <label class="check">
          <input type="checkbox" id="hours-always-open" checked={h.alwaysOpen} onChange={(e) => setHours({ alwaysOpen: (e.currentTarget as HTMLInputElement).checked })} />
          Always open
        </label>
        {!h.alwaysOpen && (
          <>
            <p class="muted" id="hours-help">Per day, times like <code>09:00-12:00, 13:00-17:00</code>, or <code>closed</code>. Exceptions, one per line: <code>2026-12-25 Christmas: closed</code> or <code>2026-12-24: 09:00-12:00</code>.</p>
            <label class="field">Time zone
              <input id="hours-tz" list="hours-tz-list" value={h.timeZone} onInput={(e) => setHours({ timeZone: (e.currentTarget as HTMLInputElement).value })} placeholder="Europe/Paris" autocomplete="off" spellcheck={false} />
            </label>
            {zones.length > 0 && <datalist id="hours-tz-list">{zones.map((z) => <option value={z} key={z} />)}</datalist>}
            <div class="days">
              {DAYS.map(([i, name]) => (
                <label class="day" key={i}>
                  <span>{name}</span>
                  <input id={`hours-day-${i}`} value={h.days[i]} spellcheck={false}
                    onInput={(e) => setHours({ days: h.days.map((v, j) => (j === i ? (e.currentTarget as HTMLInputElement).value : v)) })} />
                </label>
              ))}
            </div>
            <label class="field">Exceptions (holidays, special days)
              <textarea id="hours-exceptions" rows={3} value={h.exceptions} spellcheck={false} placeholder="2026-12-25 Christmas: closed"
                onInput={(e) => setHours({ exceptions: (e.currentTarget as HTMLTextAreaElement).value })} />
            </label>
          </>
        )}
      </fieldset>

      <SaveFooter id="routing" err={err} saved={saved} busy={busy} label="Save routing" />
    </form>
  );
}

let zoneList: string[] | null = null;
function timeZones(): string[] {
  if (!zoneList) {
    try {
      zoneList = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
    } catch {
      zoneList = [];
    }
  }
  return zoneList;
}

function Field({ label, hint, children }: { label: string; hint: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <small class="hint">{hint}</small>}
    </label>
  );
}

function NumField({ id, label, hint, value, onInput, min, max, placeholder }: { id: string; label: string; hint: string; value: string; onInput: (e: Event) => void; min: number; max: number; placeholder: string }) {
  return (
    <Field label={label} hint={hint}>
      <input id={id} type="number" inputMode="numeric" min={min} max={max} step={1} value={value} placeholder={placeholder} onInput={onInput} />
    </Field>
  );
}

function TextField({ id, label, value, onInput }: { id: string; label: string; value: string; onInput: (e: Event) => void }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      <textarea id={id} rows={2} maxLength={2000} value={value} onInput={onInput} placeholder="Empty: the default text" />
    </label>
  );
}

// ---------- departments ----------

// eligible: users who can be members of the site's departments (agents and
// admins of the site; supervisors and disabled users take no chats).
function eligible(users: StaffUser[], siteId: number): StaffUser[] {
  return users.filter((u) => !u.disabled && u.role !== 'supervisor' && (u.role === 'admin' || (u.site_ids ?? []).includes(siteId)));
}

function Departments({ site, depts, users, reload }: { site: Site; depts: Department[]; users: StaffUser[]; reload: () => void }) {
  const people = eligible(users, site.id);
  return (
    <section class="panel settings-form" aria-labelledby="depts-title" id="departments">
      <h2 id="depts-title">Departments of {site.name}</h2>
      <p class="muted">Teams with their own queue. A visitor picks one before the chat, or chats go to the default department. Empty fields use the site's settings.</p>
      {depts.length === 0 && <p class="muted" id="depts-empty">No departments yet: every chat goes to the site's general queue.</p>}
      <ul class="depts">
        {depts.map((d) => <DeptEditor key={d.id} dept={d} people={people} siteStrategy={site.routing?.strategy} onChanged={reload} />)}
      </ul>
      <DeptEditor dept={null} siteId={site.id} people={people} siteStrategy={site.routing?.strategy} onChanged={reload} />
    </section>
  );
}

function DeptEditor({ dept, siteId, people, siteStrategy, onChanged }: { dept: Department | null; siteId?: number; people: StaffUser[]; siteStrategy?: string; onChanged: () => void }) {
  const blank = { name: '', strategy: '', offer: '', wait: '', members: [] as number[] };
  const from = (x: Department | null) => (x ? { name: x.name, strategy: x.strategy ?? '', offer: x.offer_timeout_seconds ? String(x.offer_timeout_seconds) : '', wait: x.max_wait_seconds ? String(x.max_wait_seconds) : '', members: x.member_ids ?? [] } : blank);
  const [f, setF] = useState(() => from(dept));
  const [err, setErr] = useState('');
  const [msg, setMsg] = useState('');
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const key = dept ? `dept-${dept.id}` : 'dept-new';
  const upd = (patch: Partial<typeof f>) => {
    setF({ ...f, ...patch });
    setMsg('');
  };
  const num = (v: string, what: string): number => wholeNumber(v, what, "the site's");

  const save = async (ev: Event) => {
    ev.preventDefault();
    setErr('');
    setMsg('');
    let body: Record<string, unknown>;
    try {
      body = { name: f.name, strategy: f.strategy, offer_timeout_seconds: num(f.offer, 'Offer timeout'), max_wait_seconds: num(f.wait, 'Longest wait'), member_ids: f.members };
    } catch (x) {
      setErr((x as Error).message);
      return;
    }
    if (!f.name.trim()) {
      setErr('Give the department a name.');
      return;
    }
    setBusy(true);
    try {
      if (dept) {
        const d = await api<Department>('PATCH', `/departments/${dept.id}`, body);
        setF(from(d));
        setMsg('Saved.');
      } else {
        await api<Department>('POST', '/departments', { ...body, site_id: siteId });
        setF(blank);
        setMsg('Department created.');
      }
      onChanged();
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setErr('');
    try {
      await api('DELETE', `/departments/${dept!.id}`);
      onChanged();
    } catch (x) {
      setErr(errText(x));
      setConfirm(false);
    } finally {
      setBusy(false);
    }
  };

  const body = (
    <form class="dept" id={key} data-dept={dept?.id} onSubmit={save} aria-label={dept ? `Department ${dept.name}` : 'New department'}>
      {!dept && <h3>New department</h3>}
      <div class="grid3">
        <label class="field"><span class="field-label">Name</span>
          <input class="dept-name" id={`${key}-name`} value={f.name} maxLength={100} onInput={(e) => upd({ name: (e.currentTarget as HTMLInputElement).value })} placeholder="e.g. Sales" />
        </label>
        <label class="field"><span class="field-label">Strategy</span>
          <select class="dept-strategy" id={`${key}-strategy`} value={f.strategy} onChange={(e) => upd({ strategy: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">The site's ({strategyName(siteStrategy || 'broadcast')})</option>
            {strategies.map(([k]) => <option value={k} key={k}>{strategyName(k)}</option>)}
          </select>
        </label>
        <label class="field"><span class="field-label">Offer timeout (s)</span>
          <input type="number" min={0} max={3600} id={`${key}-offer`} value={f.offer} placeholder="site's" onInput={(e) => upd({ offer: (e.currentTarget as HTMLInputElement).value })} />
        </label>
        <label class="field"><span class="field-label">Longest wait (s)</span>
          <input type="number" min={0} max={604800} id={`${key}-wait`} value={f.wait} placeholder="site's" onInput={(e) => upd({ wait: (e.currentTarget as HTMLInputElement).value })} />
        </label>
      </div>
      <fieldset class="members">
        <legend>Members</legend>
        {people.length === 0 && <span class="muted">No agents on this site.</span>}
        {people.map((u) => (
          <label class="check" key={u.id}>
            <input type="checkbox" data-user={u.id} checked={f.members.includes(u.id)}
              onChange={(e) => upd({ members: (e.currentTarget as HTMLInputElement).checked ? [...f.members, u.id] : f.members.filter((x) => x !== u.id) })} />
            {u.name}{u.role === 'admin' ? ' (admin)' : ''}
          </label>
        ))}
      </fieldset>
      {err && <p class="form-error" role="alert">{err}</p>}
      <div class="form-actions">
        {msg && <span class="saved" role="status">{msg}</span>}
        {dept && !confirm && <button type="button" class="btn danger dept-delete" disabled={busy} onClick={() => setConfirm(true)}>Delete</button>}
        {dept && confirm && (
          <span class="confirm" role="group" aria-label="Confirm deletion">
            <span>Delete {dept.name}? Its chats move to the general queue.</span>
            <button type="button" class="btn danger dept-delete-yes" disabled={busy} onClick={() => void remove()}>Delete</button>
            <button type="button" class="btn" onClick={() => setConfirm(false)}>Cancel</button>
          </span>
        )}
        <button type="submit" class="btn primary dept-save" disabled={busy}>{dept ? 'Save' : 'Create department'}</button>
      </div>
    </form>
  );
  return dept ? <li>{body}</li> : body;
}
