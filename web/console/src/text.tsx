// "Text the customer": a reply by SMS or WhatsApp to the contact's phone
// (POST …/channel-message), in the ticket view and in a chat whose customer
// texted in or whose widget chat ended. WhatsApp allows free text only
// within 24 hours of the customer's last message; after that the server
// answers template_required and the agent sends an approved template (its
// Content SID and variables, one key=value a line) instead.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError } from './api';
import { client } from './client';
import { isTemplateSid, MAX_TEXT_BYTES, parseTemplateVars, textBytes, textLabel, type TextChannel } from './channels';
import { useQuickMenu } from './quickmenu';
import { errText } from './ui';

const WINDOW_SHUT = 'WhatsApp allows free text only within 24 hours of the customer’s last message. Send an approved template instead: enter its SID and variables below.';

function problems(ch: TextChannel): Record<string, string> {
  return {
    channel_not_configured: `This server is not set up to send ${textLabel[ch]}. Ask an admin to configure Twilio, or pick the other channel.`,
    no_phone: 'This customer has no phone number, so a text cannot reach them.',
    template_required: WINDOW_SHUT,
    invalid_channel: 'Pick SMS or WhatsApp.',
    template_whatsapp_only: 'Templates go by WhatsApp only: pick WhatsApp, or write a plain text for SMS.',
    template_not_found: 'WhatsApp does not know this template. Check its SID.',
    empty_message: 'Write the text first.',
    message_too_long: `A text holds at most ${MAX_TEXT_BYTES} bytes: shorten it.`,
    supervisor_read_only: 'Supervisors can read conversations but not text customers.',
  };
}

export function TextComposer({ id, phone, initial, blocked, autoFocus }: { id: number; phone: string; initial: TextChannel; blocked?: ComponentChildren; autoFocus?: boolean }) {
  const [channel, setChannel] = useState<TextChannel>(initial);
  const [template, setTemplate] = useState(false);
  const [text, setText] = useState('');
  const [sid, setSid] = useState('');
  const [vars, setVars] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const [sent, setSent] = useState('');
  const cid = useRef(''); // kept across retries of the same text: one text at most
  const ta = useRef<HTMLTextAreaElement>(null);
  const sidInput = useRef<HTMLInputElement>(null);
  const edited = () => {
    cid.current = '';
    setSent('');
  };
  const edit = (v: string) => {
    setText(v);
    edited();
  };
  const menu = useQuickMenu(ta, text, edit, 'text');
  const useTemplate = template && channel === 'whatsapp';
  const bytes = textBytes(text);
  const disabled = !!blocked;

  useEffect(() => {
    if (autoFocus && !disabled) ta.current?.focus();
  }, []);

  const pick = (ch: TextChannel) => {
    setChannel(ch);
    setErr('');
    edited();
  };

  const submit = async () => {
    if (busy || disabled) return;
    let req: Parameters<typeof client.channelMessage>[1];
    if (useTemplate) {
      const s = sid.trim();
      if (!isTemplateSid(s)) {
        setErr('A template SID is “HX” followed by 32 letters and digits (0–9, a–f), as Twilio’s Content Template Builder shows it.');
        sidInput.current?.focus();
        return;
      }
      const p = parseTemplateVars(vars);
      if (!p.ok) {
        setErr(p.error);
        return;
      }
      req = { channel: 'whatsapp', client_id: '', template_id: s, template_vars: p.vars };
    } else {
      if (!text.trim()) return;
      if (bytes > MAX_TEXT_BYTES) {
        setErr(problems(channel).message_too_long);
        return;
      }
      req = { channel, client_id: '', body: text };
    }
    setBusy(true);
    setErr('');
    setSent('');
    try {
      cid.current = cid.current || client.clientId(channel);
      req.client_id = cid.current;
      await client.channelMessage(id, req);
      cid.current = '';
      setSent(useTemplate ? `Template sent to ${phone} by WhatsApp.` : `Sent to ${phone} by ${textLabel[channel]}.`);
      if (useTemplate) setVars('');
      else setText('');
    } catch (x) {
      if (x instanceof ApiError && x.code === 'template_required') {
        // outside WhatsApp's 24-hour window: only a template goes
        cid.current = '';
        setChannel('whatsapp');
        setTemplate(true);
        setTimeout(() => sidInput.current?.focus());
      }
      setErr(errText(x, problems(req.channel)));
    } finally {
      setBusy(false);
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void submit();
    }
  };

  return (
    <form class="text-composer" id="text-composer" data-channel={channel} aria-label="Text the customer"
      onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <div class="text-head">
        <span class="text-to">To <strong id="text-phone">{phone}</strong> by</span>
        <span class="seg" role="radiogroup" aria-label="Channel">
          {(['sms', 'whatsapp'] as TextChannel[]).map((ch) => (
            <label class={channel === ch ? 'seg-opt current' : 'seg-opt'} key={ch} data-channel={ch}>
              <input type="radio" name="text-channel" id={'text-channel-' + ch} value={ch} checked={channel === ch} disabled={disabled} onChange={() => pick(ch)} />
              {textLabel[ch]}
            </label>
          ))}
        </span>
        {channel === 'whatsapp' && (
          <label class="check text-template-toggle">
            <input type="checkbox" id="text-use-template" checked={template} disabled={disabled} onChange={(e) => { setTemplate((e.currentTarget as HTMLInputElement).checked); setErr(''); edited(); }} />
            Use a template
          </label>
        )}
      </div>
      {blocked && <p class="composer-blocked" id="text-blocked">{blocked}</p>}
      {useTemplate ? (
        <div class="text-template">
          <label class="field">Template SID
            <input id="text-template-sid" ref={sidInput} value={sid} disabled={disabled} placeholder="HX… (32 hex digits)" spellcheck={false} autocomplete="off"
              onInput={(e) => { setSid((e.currentTarget as HTMLInputElement).value); edited(); }} />
          </label>
          <label class="field">Variables, one per line
            <textarea id="text-template-vars" rows={3} value={vars} disabled={disabled} placeholder={'1=Pat\n2=Tuesday'} spellcheck={false}
              onInput={(e) => { setVars((e.currentTarget as HTMLTextAreaElement).value); edited(); }} onKeyDown={onKey} />
          </label>
          <p class="hint">An approved WhatsApp template: its placeholders {'{{1}}'}, {'{{2}}'}… take the values given as 1=…, 2=….</p>
        </div>
      ) : (
        <>
          {menu.popup}
          <textarea id="text-input" ref={ta} rows={3} value={text} disabled={disabled}
            placeholder={`Text ${phone} by ${textLabel[channel]}. Type / for quick replies`}
            aria-label={`Text the customer by ${textLabel[channel]}`}
            {...menu.attrs}
            onInput={(e) => {
              edit((e.currentTarget as HTMLTextAreaElement).value);
              menu.sync();
            }}
            onBlur={menu.blur}
            onKeyDown={(e) => {
              if (menu.onKeyDown(e)) return;
              onKey(e);
            }}
          />
        </>
      )}
      <div class="composer-foot">
        {!useTemplate && bytes > MAX_TEXT_BYTES * 0.8 && <span class={bytes > MAX_TEXT_BYTES ? 'text-count over' : 'text-count'}>{bytes}/{MAX_TEXT_BYTES}</span>}
        {sent && <span class="sent-note" id="text-sent" role="status">{sent}</span>}
        {err && <span class="form-error inline" id="text-error" role="alert">{err}</span>}
        <button type="submit" id="text-send" class="btn primary" disabled={busy || disabled || (useTemplate ? !sid.trim() : !text.trim())}>
          {busy ? 'Sending…' : useTemplate ? 'Send template' : `Send ${textLabel[channel]}`}
        </button>
      </div>
    </form>
  );
}
