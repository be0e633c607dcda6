// Browser notifications for an incoming chat and for customer messages in a
// chat that is not on screen, and a chime for a chat offered to the agent.
// Each event notifies at most once (keyed by conversation and seq), never
// for the agent's own actions, and only after the agent agreed (the
// console asks once, from a button, never on load).

const seen = new Set<string>();

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
  seen.add(key);
  if (!notificationsSupported() || Notification.permission !== 'granted') return false;
  if (document.visibilityState === 'visible' && document.hasFocus() && key.startsWith('msg:')) return false;
  const n = new Notification(title, { body: body.slice(0, 140), tag: key });
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
  return true;
}

// chime plays a short two-note sound for a chat offered to me, once the
// agent has opted in to notifications (the same button; browsers allow
// sound only after a click on the page anyway).
let audio: AudioContext | null = null;
export function chime(): void {
  if (!notificationsSupported() || Notification.permission !== 'granted' || typeof AudioContext === 'undefined') return;
  try {
    audio ??= new AudioContext();
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
