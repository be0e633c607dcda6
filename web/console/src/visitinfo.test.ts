import { describe, expect, it } from 'vitest';
import { groupVisits, localTime, pageLabel, place } from './visitinfo';
import type { PageView } from './types';

const view = (id: number, visit: number, url = 'https://shop.test/p' + id, title = ''): PageView => ({
  id, contact_id: 1, visitor_session_id: 1, visit, url, title, viewed_at: '2026-11-21T05:00:00Z',
});

describe('visit history', () => {
  it('groups views (newest first) by visit, newest visit first', () => {
    const g = groupVisits([view(5, 3), view(4, 3), view(3, 2), view(2, 1), view(1, 1)]);
    expect(g.map((x) => [x.visit, x.views.map((v) => v.id)])).toEqual([[3, [5, 4]], [2, [3]], [1, [2, 1]]]);
    expect(groupVisits([])).toEqual([]);
  });

  it('gives the visitor’s local time and the offset from the agent', () => {
    const now = new Date('2026-11-21T10:00:00Z');
    const nz = localTime('Pacific/Auckland', now, 'UTC');
    expect(nz?.time).toMatch(/23:00|11:00/);
    expect(nz?.offset).toBe('+13 h from you');
    expect(localTime('Asia/Kolkata', now, 'UTC')?.offset).toBe('+5 h 30 min from you');
    expect(localTime('America/New_York', now, 'UTC')?.offset).toBe('−5 h from you');
    expect(localTime('UTC', now, 'UTC')?.offset).toBe('same as you');
    expect(localTime('', now)).toBeNull();
    expect(localTime('Mars/Olympus_Mons', now)).toBeNull();
  });

  it('names places and pages', () => {
    expect(place('NZ', 'Wellington')).toBe('Wellington, New Zealand');
    expect(place('', 'Lyon')).toBe('Lyon');
    expect(place('', '')).toBe('');
    expect(pageLabel({ url: 'https://shop.test/cart?x=1', title: '  Your cart ' })).toBe('Your cart');
    expect(pageLabel({ url: 'https://shop.test/cart?x=1', title: '' })).toBe('shop.test/cart');
    expect(pageLabel({ url: 'https://shop.test/', title: '' })).toBe('shop.test');
    expect(pageLabel({ url: '', title: '' })).toBe('(unknown page)');
  });
});
