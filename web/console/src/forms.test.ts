import { describe, expect, it } from 'vitest';
import { draftOf, InputError, routingOf, wholeNumber } from './forms';
import { HoursError } from './hours';

describe('routing form ↔ settings JSON', () => {
  it('an empty form is all defaults (sent as an empty object)', () => {
    const d = draftOf(undefined);
    expect(d.strategy).toBe('broadcast');
    expect(d.queue_display).toBe('position_and_estimate');
    expect(d.offer_timeout_seconds).toBe('');
    expect(routingOf(d)).toEqual({});
  });

  it('round-trips settings, leaving defaults out', () => {
    const r = {
      strategy: 'round_robin' as const, offer_timeout_seconds: 20, max_misses: 3, max_wait_seconds: 600, queue_display: 'position' as const,
      default_department_id: 4, disconnect_grace_seconds: 90, requeue_after_minutes: 5,
      queue_message: 'Hang on', unanswered_message: 'Sorry', after_hours_message: 'We are closed', auto_reply: 'Back tomorrow',
    };
    expect(routingOf(draftOf(r))).toEqual(r);
    expect(routingOf({ ...draftOf(r), strategy: 'broadcast', queue_display: 'position_and_estimate', max_misses: '0', queue_message: '  ' })).toEqual({
      offer_timeout_seconds: 20, max_wait_seconds: 600, default_department_id: 4, disconnect_grace_seconds: 90, requeue_after_minutes: 5,
      unanswered_message: 'Sorry', after_hours_message: 'We are closed', auto_reply: 'Back tomorrow',
    });
  });

  it('rejects numbers that are not whole, naming the field', () => {
    expect(() => routingOf({ ...draftOf(undefined), offer_timeout_seconds: '2.5' })).toThrow('Offer timeout: enter a whole number, or leave it empty for the default.');
    expect(() => routingOf({ ...draftOf(undefined), max_wait_seconds: '-1' })).toThrow(/Longest wait/);
    expect(() => routingOf({ ...draftOf(undefined), max_misses: 'three' })).toThrow(InputError);
  });

  it('reads whole numbers', () => {
    expect(wholeNumber(' 12 ', 'x')).toBe(12);
    expect(wholeNumber('', 'x')).toBe(0);
    expect(() => wholeNumber('1e3', 'Offer', "the site's")).toThrow("Offer: enter a whole number, or leave it empty for the site's.");
  });

  it('hours errors are input errors', () => {
    expect(new HoursError('x')).toBeInstanceOf(InputError);
  });
});
