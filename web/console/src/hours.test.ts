import { describe, expect, it } from 'vitest';
import { formatExceptions, formatIntervals, formFromSchedule, HoursError, parseExceptions, parseIntervals, parseTime, scheduleFromForm } from './hours';
import type { Schedule } from './types';

describe('hours text format', () => {
  it('normalises times', () => {
    expect(parseTime('9')).toBe('09:00');
    expect(parseTime('9:30')).toBe('09:30');
    expect(parseTime(' 17:05 ')).toBe('17:05');
    expect(parseTime('24:00')).toBe('24:00');
    expect(parseTime('24:30')).toBe(null);
    expect(parseTime('12:60')).toBe(null);
    expect(parseTime('9am')).toBe(null);
    expect(parseTime('')).toBe(null);
  });

  it('reads a day: intervals sorted, several separators, closed', () => {
    expect(parseIntervals('13:00-17:00, 09:00-12:00', 'Monday')).toEqual([{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }]);
    expect(parseIntervals('9 – 12; 13:30 to 18', 'Monday')).toEqual([{ start: '09:00', end: '12:00' }, { start: '13:30', end: '18:00' }]);
    expect(parseIntervals('00:00-24:00', 'Sunday')).toEqual([{ start: '00:00', end: '24:00' }]);
    expect(parseIntervals('closed', 'Sunday')).toEqual([]);
    expect(parseIntervals('Closed', 'Sunday')).toEqual([]);
    expect(parseIntervals('  ', 'Sunday')).toEqual([]);
  });

  it('rejects bad, backwards and overlapping intervals, naming the day', () => {
    expect(() => parseIntervals('9-', 'Monday')).toThrow(HoursError);
    expect(() => parseIntervals('nine to five', 'Monday')).toThrow(/Monday: “nine to five”/);
    expect(() => parseIntervals('17:00-09:00', 'Tuesday')).toThrow('Tuesday: 17:00-09:00 must end after it starts');
    expect(() => parseIntervals('10:00-10:00', 'Tuesday')).toThrow(/must end after it starts/);
    expect(() => parseIntervals('09:00-13:00, 12:00-17:00', 'Friday')).toThrow('Friday: 09:00-13:00 overlaps 12:00-17:00');
    // touching intervals do not overlap
    expect(parseIntervals('09:00-12:00, 12:00-17:00', 'Friday')).toHaveLength(2);
  });

  it('writes a day back', () => {
    expect(formatIntervals([{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }])).toBe('09:00-12:00, 13:00-17:00');
    expect(formatIntervals([])).toBe('closed');
    expect(formatIntervals(null)).toBe('closed');
  });

  it('reads exceptions: closed days, named days, shorter days', () => {
    const text = '2026-12-25 Christmas: closed\n\n# comment\n2026-12-24: 09:00-12:00\n2027-01-01 New Year\'s Day : closed';
    expect(parseExceptions(text)).toEqual([
      { date: '2026-12-25', name: 'Christmas', intervals: [] },
      { date: '2026-12-24', intervals: [{ start: '09:00', end: '12:00' }] },
      { date: '2027-01-01', name: "New Year's Day", intervals: [] },
    ]);
    expect(parseExceptions('')).toEqual([]);
  });

  it('rejects bad exceptions with the line number', () => {
    expect(() => parseExceptions('2026-12-25 closed')).toThrow(/Exception line 1/);
    expect(() => parseExceptions('\n2026-02-30: closed')).toThrow('Exception line 2: “2026-02-30” is not a date like 2026-12-25');
    expect(() => parseExceptions('25/12/2026: closed')).toThrow(/is not a date/);
    expect(() => parseExceptions('2026-12-25: closed\n2026-12-25: 10:00-12:00')).toThrow(/listed twice/);
    expect(() => parseExceptions('2026-12-24: 12:00-09:00')).toThrow(/Exception line 1 \(2026-12-24\): 12:00-09:00 must end after it starts/);
  });

  it('round-trips exceptions', () => {
    const ex = [{ date: '2026-12-25', name: 'Christmas', intervals: [] }, { date: '2026-12-24', intervals: [{ start: '09:00', end: '12:00' }] }];
    expect(formatExceptions(ex)).toBe('2026-12-25 Christmas: closed\n2026-12-24: 09:00-12:00');
    expect(parseExceptions(formatExceptions(ex))).toEqual(ex);
  });
});

describe('hours form ↔ schedule JSON', () => {
  const sched: Schedule = {
    time_zone: 'Europe/Paris',
    weekly: [[], [{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }], [{ start: '09:00', end: '17:00' }], [], [], [], []],
    exceptions: [{ date: '2026-12-25', name: 'Christmas', intervals: [] }],
  };

  it('null means always open', () => {
    const f = formFromSchedule(null, 'Europe/Berlin');
    expect(f.alwaysOpen).toBe(true);
    expect(f.timeZone).toBe('Europe/Berlin');
    expect(f.days[1]).toBe('09:00-17:00');
    expect(f.days[0]).toBe('closed');
    expect(scheduleFromForm(f)).toBe(null);
    // switching "always open" off yields office hours
    expect(scheduleFromForm({ ...f, alwaysOpen: false })!.weekly[6]).toEqual([]);
  });

  it('round-trips a schedule (index 0 is Sunday)', () => {
    const f = formFromSchedule(sched);
    expect(f.alwaysOpen).toBe(false);
    expect(f.days[0]).toBe('closed');
    expect(f.days[1]).toBe('09:00-12:00, 13:00-17:00');
    expect(f.exceptions).toBe('2026-12-25 Christmas: closed');
    expect(scheduleFromForm(f)).toEqual(sched);
  });

  it('leaves exceptions out when there are none, and needs a time zone', () => {
    const f = formFromSchedule({ ...sched, exceptions: undefined });
    expect(scheduleFromForm(f)).toEqual({ time_zone: 'Europe/Paris', weekly: sched.weekly });
    expect(() => scheduleFromForm({ ...f, timeZone: ' ' })).toThrow(/Time zone/);
    expect(() => scheduleFromForm({ ...f, days: f.days.map((d, i) => (i === 3 ? '18-9' : d)) })).toThrow(/^Wednesday:/);
  });
});
