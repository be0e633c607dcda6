// Browser notifications for an incoming chat, for customer messages in a
// chat that is not on screen and for a colleague's @-mention, and a chime
// for a chat offered to the agent.
// Each event notifies at most once (keyed by conversation and seq), never
// for the agent's own actions, and only after the agent agreed (the
// console asks once, from a button, never on load). The agent's
// preferences (prefs.ts) turn desktop notifications, each kind of alert and
// the chime on or off.

import { prefs } from './prefs';

const seen = new Set<string>();

// wanted says whether the agent's preferences let this desktop notification
// through: "msg:" keys are new messages, "mention:" keys a colleague's
// @-mention, the rest (chat:, offer:) new chats.
export function wanted(key: string, p = prefs()): boolean {
  if (key.startsWith('mention:')) return p.mentions;
  return key.startsWith('msg:') ? p.newMessages : p.newChats;
}

// onScreen: the console is what the agent is looking at (messages and
// mentions then show in the page, not as desktop notifications).
export const onScreen = (): boolean => document.visibilityState === 'visible' && document.hasFocus();

export function notificationsSupported(): boolean {
  return typeof Notification !== 'undefined';
}

export function notificationsState(): NotificationPermission | 'unsupported' {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

export async function askNotifications(): Promise<void> {
  if (notificationsSupported() && Notification.permission === 'default') await Notification.requestPermission();
}

// notifyOnce shows a notification unless this key was already notified.
// It returns whether it notified (the key is remembered either way).
export function notifyOnce(key: string, title: string, body: string, onClick: () => void): boolean {
  if (seen.has(key)) return false;
  seen.add(key); // remembered even when muted: turning alerts on never replays it
  const p = prefs();
  if (!p.desktop || !wanted(key, p)) return false;
  if (!notificationsSupported() || Notification.permission !== 'granted') return false;
  if ((key.startsWith('msg:') || key.startsWith('mention:')) && onScreen()) return false;
  const n = new Notification(title, { body: body.slice(0, 140), tag: key });
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
  return true;
}

// chime plays a short two-note sound for a chat offered to me, unless the
// agent turned sound off (browsers allow sound only after a click on the
// page anyway).
// With a key, it plays once per key (one offer, one chime).
let audio: AudioContext | null = null;
const chimed = new Set<string>();
export function chime(key?: string): void {
  if (key) {
    if (chimed.has(key)) return;
    chimed.add(key);
  }
  if (!prefs().sound || typeof AudioContext === 'undefined') return;
  try {
    audio ??= new AudioContext();
    if (audio.state === 'suspended') void audio.resume().catch(() => {});
    const t = audio.currentTime;
    [660, 880].forEach((f, i) => {
      const at = t + i * 0.16;
      const o = audio!.createOscillator();
      const g = audio!.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, at);
      g.gain.exponentialRampToValueAtTime(0.12, at + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, at + 0.15);
      o.connect(g).connect(audio!.destination);
      o.start(at);
      o.stop(at + 0.16);
    });
  } catch {
    /* no sound available */
  }
}
