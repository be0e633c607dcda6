// Browser notifications for an incoming chat and for customer messages in a
// chat that is not on screen. Each event notifies at most once (keyed by
// conversation and seq), never for the agent's own actions, and only after
// the agent agreed (the console asks once, from a button, never on load).

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
