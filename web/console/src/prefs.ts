// The agent's console preferences: desktop notifications, which events
// alert (new chats, new messages, a colleague's @-mention) and the chime.
// Kept in localStorage per user, so two agents sharing a browser each keep
// their own, and read by notify.ts on every alert. Capacity is a
// server-side setting (PUT /me/capacity), not stored here.

export interface Prefs {
  desktop: boolean; // desktop notifications (the browser asks permission once)
  newChats: boolean; // alert for chats waiting or offered to me
  newMessages: boolean; // alert for customer messages in my chats not on screen
  mentions: boolean; // alert when a colleague @-mentions me in a note
  sound: boolean; // chime when a chat is offered to me
}

export const defaultPrefs: Readonly<Prefs> = { desktop: true, newChats: true, newMessages: true, mentions: true, sound: true };

type Storage0 = Pick<Storage, 'getItem' | 'setItem'>;

export const prefsKey = (userId: number): string => `switchboard.prefs.${userId}`;

// readPrefs returns the stored preferences of a user, defaults for what is
// missing, unreadable or of the wrong type.
export function readPrefs(storage: Storage0 | null, userId: number): Prefs {
  const p: Prefs = { ...defaultPrefs };
  let raw: string | null = null;
  try {
    raw = storage?.getItem(prefsKey(userId)) ?? null;
  } catch {
    /* storage blocked: defaults */
  }
  if (!raw) return p;
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return p;
  }
  if (!data || typeof data !== 'object') return p;
  for (const k of Object.keys(defaultPrefs) as (keyof Prefs)[]) {
    const v = (data as Record<string, unknown>)[k];
    if (typeof v === 'boolean') p[k] = v;
  }
  return p;
}

// writePrefs stores a user's preferences; false when the browser refuses.
export function writePrefs(storage: Storage0 | null, userId: number, p: Prefs): boolean {
  try {
    if (!storage) return false;
    storage.setItem(prefsKey(userId), JSON.stringify(p));
    return true;
  } catch {
    return false;
  }
}

// ---- the signed-in agent's preferences, as the console uses them ----

const browserStorage = (): Storage0 | null => {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
};

let user = 0;
let current: Prefs = { ...defaultPrefs };
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((fn) => fn());

export const prefs = (): Readonly<Prefs> => current;

export function onPrefs(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// loadPrefsFor loads the preferences of the agent who signed in (0: signed out).
export function loadPrefsFor(userId: number, storage: Storage0 | null = browserStorage()): void {
  user = userId;
  current = userId ? readPrefs(storage, userId) : { ...defaultPrefs };
  emit();
}

// setPrefs changes and stores the current agent's preferences. It returns
// false when they could not be stored (they still apply to this tab).
export function setPrefs(patch: Partial<Prefs>, storage: Storage0 | null = browserStorage()): boolean {
  current = { ...current, ...patch };
  const ok = user ? writePrefs(storage, user, current) : false;
  emit();
  return ok;
}

// another tab of the same agent changed them
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (user && e.key === prefsKey(user)) loadPrefsFor(user);
  });
}
