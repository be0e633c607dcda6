import { beforeEach, describe, expect, it } from 'vitest';
import { defaultPrefs, loadPrefsFor, prefs, prefsKey, readPrefs, setPrefs, writePrefs } from './prefs';
import { wanted } from './notify';

class MemStorage {
  data = new Map<string, string>();
  getItem(k: string): string | null {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.data.set(k, v);
  }
}

const broken = {
  getItem(): string | null {
    throw new Error('SecurityError');
  },
  setItem(): void {
    throw new Error('QuotaExceededError');
  },
};

describe('preferences persistence', () => {
  let s: MemStorage;
  beforeEach(() => {
    s = new MemStorage();
    loadPrefsFor(0, s);
  });

  it('defaults to everything on', () => {
    expect(readPrefs(s, 7)).toEqual({ desktop: true, newChats: true, newMessages: true, mentions: true, sound: true });
    expect(readPrefs(null, 7)).toEqual(defaultPrefs);
  });

  it('round-trips, per user', () => {
    expect(writePrefs(s, 7, { ...defaultPrefs, sound: false })).toBe(true);
    expect(readPrefs(s, 7).sound).toBe(false);
    expect(readPrefs(s, 8).sound).toBe(true);
    expect(JSON.parse(s.getItem(prefsKey(7))!)).toEqual({ desktop: true, newChats: true, newMessages: true, mentions: true, sound: false });
  });

  it('survives a reload: setPrefs stores, loadPrefsFor reads back', () => {
    loadPrefsFor(7, s);
    expect(setPrefs({ sound: false, newMessages: false }, s)).toBe(true);
    expect(prefs()).toMatchObject({ sound: false, newMessages: false, desktop: true });
    loadPrefsFor(0, s); // sign out
    expect(prefs().sound).toBe(true);
    loadPrefsFor(7, s); // sign in again (a reload)
    expect(prefs()).toEqual({ desktop: true, newChats: true, newMessages: false, mentions: true, sound: false });
    loadPrefsFor(8, s); // another agent in the same browser
    expect(prefs().sound).toBe(true);
  });

  it('ignores junk and unknown or mistyped fields', () => {
    s.setItem(prefsKey(7), 'not json');
    expect(readPrefs(s, 7)).toEqual(defaultPrefs);
    s.setItem(prefsKey(7), '[1,2]');
    expect(readPrefs(s, 7)).toEqual(defaultPrefs);
    s.setItem(prefsKey(7), JSON.stringify({ sound: 'no', desktop: false, extra: true }));
    expect(readPrefs(s, 7)).toEqual({ ...defaultPrefs, desktop: false });
  });

  it('a browser that refuses storage: defaults, and changes apply for the session only', () => {
    expect(readPrefs(broken, 7)).toEqual(defaultPrefs);
    loadPrefsFor(7, broken);
    expect(setPrefs({ sound: false }, broken)).toBe(false);
    expect(prefs().sound).toBe(false);
  });

  it('signed out, nothing is stored', () => {
    expect(setPrefs({ sound: false }, s)).toBe(false);
    expect(s.data.size).toBe(0);
  });
});

describe('notification preferences by kind', () => {
  it('new-message alerts gate "msg:" keys, new-chat alerts the rest', () => {
    const p = { ...defaultPrefs, newMessages: false };
    expect(wanted('msg:4:7', p)).toBe(false);
    expect(wanted('chat:3', p)).toBe(true);
    expect(wanted('offer:3:t', { ...defaultPrefs, newChats: false })).toBe(false);
    expect(wanted('msg:4:7', { ...defaultPrefs, newChats: false })).toBe(true);
  });

  it('mention alerts gate "mention:" keys only', () => {
    const p = { ...defaultPrefs, mentions: false };
    expect(wanted('mention:4:9', p)).toBe(false);
    expect(wanted('msg:4:7', p)).toBe(true);
    expect(wanted('chat:3', p)).toBe(true);
    expect(wanted('mention:4:9', { ...defaultPrefs, newChats: false, newMessages: false })).toBe(true);
  });
});
