// Admin settings: a site's widget (colour, position, greeting, launcher
// text, pre-chat form, texts, language) and who answers it (widget mode and
// the assistant's answers). Saved with PATCH /sites/{id} ({widget, bot,
// widget_mode}); the server validates (docs/widget.md) and its typed errors
// are shown as they come. A small preview shows the launcher and the panel
// header as visitors will see them.

import { useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { api } from './api';
import type { Site } from './types';
import { errText, SaveFooter } from './ui';

type FieldMode = 'hidden' | 'optional' | 'required';

export interface WidgetSettings {
  color?: string;
  position?: 'left' | 'right' | '';
  greeting?: string;
  launcher_text?: string;
  prechat?: { name?: FieldMode | ''; email?: FieldMode | ''; department?: 'on' | 'off' | ''; question?: 'off' | 'on' | 'required' | '' };
  strings?: Record<string, string> | null;
  language?: string;
  dir?: 'ltr' | 'rtl' | '';
}

export interface BotAnswer {
  question: string;
  keywords?: string[] | null;
  answer: string;
}

export interface BotSettings {
  name?: string;
  greeting?: string;
  fallback?: string;
  answers?: BotAnswer[] | null;
}

/** The site as the admin API returns it, with the widget fields. */
type WidgetSite = Site & { widget?: WidgetSettings; bot?: BotSettings };

interface Draft {
  mode: string;
  color: string;
  position: string;
  greeting: string;
  launcher: string;
  name: string;
  email: string;
  department: boolean;
  question: string;
  strings: string; // "key: text" per line
  language: string;
  dir: string;
  botName: string;
  botGreeting: string;
  botFallback: string;
  answers: { question: string; keywords: string; answer: string }[];
}

const DEFAULT_COLOR = '#2d5bd7';

function draftOf(s: WidgetSite): Draft {
  const w = s.widget ?? {};
  const b = s.bot ?? {};
  return {
    mode: s.widget_mode || 'live',
    color: w.color || '',
    position: w.position || '',
    greeting: w.greeting || '',
    launcher: w.launcher_text || '',
    name: w.prechat?.name || '',
    email: w.prechat?.email || '',
    department: w.prechat?.department !== 'off',
    question: w.prechat?.question || '',
    strings: Object.entries(w.strings ?? {})
      .map(([k, v]) => `${k}: ${v.replace(/\n/g, '\\n')}`)
      .join('\n'),
    language: w.language || '',
    dir: w.dir || '',
    botName: b.name || '',
    botGreeting: b.greeting || '',
    botFallback: b.fallback || '',
    answers: (b.answers ?? []).map((a) => ({ question: a.question, keywords: (a.keywords ?? []).join(', '), answer: a.answer })),
  };
}

/** parseStrings reads "key: text" lines (\n in the text is a line break). */
export function parseStrings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf(':');
    if (at <= 0) throw new Error(`Texts, line ${i + 1}: write it as key: text`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim().replace(/\\n/g, '\n');
  });
  return out;
}

function bodyOf(d: Draft): { widget_mode: string; widget: WidgetSettings; bot: BotSettings } {
  return {
    widget_mode: d.mode,
    widget: {
      color: d.color,
      position: d.position as WidgetSettings['position'],
      greeting: d.greeting,
      launcher_text: d.launcher,
      prechat: {
        name: d.name as FieldMode | '',
        email: d.email as FieldMode | '',
        department: d.department ? '' : 'off',
        question: d.question as 'off' | 'on' | 'required' | '',
      },
      strings: parseStrings(d.strings),
      language: d.language.trim(),
      dir: d.dir as WidgetSettings['dir'],
    },
    bot: {
      name: d.botName,
      greeting: d.botGreeting,
      fallback: d.botFallback,
      answers: d.answers
        .filter((a) => a.question.trim() || a.keywords.trim() || a.answer.trim())
        .map((a) => ({
          question: a.question,
          keywords: a.keywords.split(',').map((k) => k.trim()).filter(Boolean),
          answer: a.answer,
        })),
    },
  };
}

export function WidgetSettingsForm({ site, onSaved }: { site: Site; onSaved: (s: Site) => void }) {
  const [d, setD] = useState<Draft>(() => draftOf(site as WidgetSite));
  const [err, setErr] = useState('');
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const patch = (p: Partial<Draft>) => {
    setD({ ...d, ...p });
    setSaved(false);
  };
  const val = (e: Event) => (e.currentTarget as HTMLInputElement).value;
  const set = (k: keyof Draft) => (e: Event) => patch({ [k]: val(e) } as Partial<Draft>);
  const setAnswer = (i: number, k: 'question' | 'keywords' | 'answer') => (e: Event) =>
    patch({ answers: d.answers.map((a, j) => (j === i ? { ...a, [k]: val(e) } : a)) });

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setErr('');
    setSaved(false);
    let body;
    try {
      body = bodyOf(d);
    } catch (x) {
      setErr((x as Error).message);
      return;
    }
    setBusy(true);
    try {
      const s = await api<WidgetSite>('PATCH', `/sites/${site.id}`, body);
      onSaved(s);
      setD(draftOf(s));
      setSaved(true);
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };

  const color = /^#[0-9a-fA-F]{6}$/.test(d.color) ? d.color : DEFAULT_COLOR;
  const bot = d.mode !== 'live';
  return (
    <form class="panel settings-form" id="widget-form" onSubmit={submit} aria-labelledby="widget-title">
      <h2 id="widget-title">Widget for {site.name}</h2>
      <p class="muted">What visitors see. These settings win over the page's own (<code>data-color</code>, <code>Switchboard('config')</code>) for every field set here.</p>
      <div class="grid2">
        <Field label="Accent colour" hint="Empty: the default blue.">
          <span style={{ display: 'flex', gap: '8px', alignItems: 'center' }}>
            <input type="color" aria-label="Pick the accent colour" value={color} onInput={set('color')} style={{ width: '48px', height: '36px', padding: '2px', flex: 'none' }} />
            <input id="widget-color" value={d.color} onInput={set('color')} placeholder={DEFAULT_COLOR} spellcheck={false} maxLength={7} style={{ flex: 1 }} />
          </span>
        </Field>
        <Field label="Position" hint="Side of the page for the launcher and the panel.">
          <select id="widget-position" value={d.position} onChange={set('position')}>
            <option value="">Right (default)</option>
            <option value="left">Left</option>
            <option value="right">Right</option>
          </select>
        </Field>
        <Field label="Launcher text" hint="Next to the launcher icon; empty: the icon only. At most 40 characters.">
          <input id="widget-launcher-text" value={d.launcher} maxLength={40} onInput={set('launcher')} />
        </Field>
        <Field label="Greeting" hint="At the top of a new conversation. At most 500 characters.">
          <textarea id="widget-greeting" rows={2} maxLength={500} value={d.greeting} onInput={set('greeting')} placeholder="Hi! How can we help you today?" />
        </Field>
      </div>

      <fieldset class="hours">
        <legend>Pre-chat form</legend>
        <div class="grid2">
          <Field label="Name" hint="">
            <Mode id="widget-prechat-name" value={d.name} onChange={set('name')} dflt="optional" />
          </Field>
          <Field label="Email" hint="Checked to be a valid address.">
            <Mode id="widget-prechat-email" value={d.email} onChange={set('email')} dflt="optional" />
          </Field>
          <Field label="First question" hint="">
            <select id="widget-prechat-question" value={d.question} onChange={set('question')}>
              <option value="">Required (default)</option>
              <option value="required">Required</option>
              <option value="on">Optional</option>
              <option value="off">Not asked</option>
            </select>
          </Field>
          <label class="check">
            <input type="checkbox" id="widget-prechat-department" checked={d.department} onChange={(e) => patch({ department: (e.currentTarget as HTMLInputElement).checked })} />
            Let visitors choose a department (when the site has departments)
          </label>
        </div>
      </fieldset>

      <div class="grid2" style={{ marginTop: '12px' }}>
        <Field label="Texts" hint="Replace any text of the widget, one per line: key: text (keys in docs/widget.md, e.g. title, placeholder, send, start, talkToHuman).">
          <textarea id="widget-strings" rows={4} value={d.strings} onInput={set('strings')} spellcheck={false} placeholder="title: Talk to our team" />
        </Field>
        <div>
          <Field label="Language" hint="For times and numbers (BCP 47, like de-DE); empty: the visitor's.">
            <input id="widget-language" value={d.language} maxLength={35} onInput={set('language')} spellcheck={false} />
          </Field>
          <Field label="Direction" hint="">
            <select id="widget-dir" value={d.dir} onChange={set('dir')}>
              <option value="">As the page</option>
              <option value="ltr">Left to right</option>
              <option value="rtl">Right to left</option>
            </select>
          </Field>
        </div>
      </div>

      <fieldset class="hours">
        <legend>Who answers</legend>
        <Field label="Mode" hint="">
          <select id="widget-mode" value={d.mode} onChange={set('mode')}>
            <option value="live">People only</option>
            <option value="hybrid">Assistant first, then a person ("Talk to a human")</option>
            <option value="assistant">Assistant only (people by the offline form)</option>
          </select>
        </Field>
        {bot && (
          <>
            <div class="grid2">
              <Field label="Assistant's name" hint="Shown on its messages; empty: Assistant.">
                <input id="bot-name" value={d.botName} maxLength={60} onInput={set('botName')} />
              </Field>
              <Field label="Assistant's first message" hint="Empty: none.">
                <textarea id="bot-greeting" rows={2} value={d.botGreeting} onInput={set('botGreeting')} />
              </Field>
              <Field label="When it has no answer" hint="Empty: an apology that offers a person (or the offline form).">
                <textarea id="bot-fallback" rows={2} value={d.botFallback} onInput={set('botFallback')} />
              </Field>
            </div>
            <p class="muted">An answer is given when the visitor's message contains one of its keywords, or half of the words of its question.</p>
            <ol class="bot-answers">
              {d.answers.map((a, i) => (
                <li key={i} class="grid2">
                  <Field label={`Question ${i + 1}`} hint="">
                    <input id={`bot-q-${i}`} value={a.question} maxLength={500} onInput={setAnswer(i, 'question')} />
                  </Field>
                  <Field label="Keywords" hint="Comma-separated.">
                    <input id={`bot-k-${i}`} value={a.keywords} onInput={setAnswer(i, 'keywords')} />
                  </Field>
                  <Field label="Answer" hint="">
                    <textarea id={`bot-a-${i}`} rows={2} maxLength={4000} value={a.answer} onInput={setAnswer(i, 'answer')} />
                  </Field>
                  <button type="button" class="btn" onClick={() => patch({ answers: d.answers.filter((_, j) => j !== i) })}>Remove</button>
                </li>
              ))}
            </ol>
            <button type="button" class="btn" id="bot-add" onClick={() => patch({ answers: [...d.answers, { question: '', keywords: '', answer: '' }] })}>Add an answer</button>
          </>
        )}
      </fieldset>

      <div class="widget-preview" aria-label="Preview" style={{ display: 'flex', gap: '12px', alignItems: 'center', flexDirection: d.position === 'left' ? 'row' : 'row-reverse' }}>
        <span style={{ background: color, color: '#fff', borderRadius: '28px', padding: '0 16px', height: '44px', display: 'inline-flex', alignItems: 'center', fontWeight: 600 }}>
          💬 {d.launcher}
        </span>
        <span style={{ background: color, color: '#fff', borderRadius: '8px', padding: '8px 12px', flex: 1 }} dir={(d.dir || undefined) as 'ltr' | 'rtl' | undefined}>
          <b>{parseTitle(d.strings)}</b>
          <br />
          <small>{d.greeting || 'Hi! How can we help you today?'}</small>
        </span>
      </div>

      <SaveFooter id="widget" err={err} saved={saved} busy={busy} label="Save widget" />
    </form>
  );
}

function parseTitle(strings: string): string {
  try {
    return parseStrings(strings).title || 'Chat with us';
  } catch {
    return 'Chat with us';
  }
}

function Mode({ id, value, onChange, dflt }: { id: string; value: string; onChange: (e: Event) => void; dflt: string }) {
  return (
    <select id={id} value={value} onChange={onChange}>
      <option value="">{dflt[0].toUpperCase() + dflt.slice(1)} (default)</option>
      <option value="hidden">Not asked</option>
      <option value="optional">Optional</option>
      <option value="required">Required</option>
    </select>
  );
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
