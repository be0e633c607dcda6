import { describe, expect, it } from 'vitest';
import { parseStrings } from './widgetsettings';

describe('parseStrings', () => {
  it('reads key: text lines, skipping blank ones', () => {
    expect(parseStrings('title: Talk to us\n\n send :  Senden \nwait: a: b')).toEqual({ title: 'Talk to us', send: 'Senden', wait: 'a: b' });
  });
  it('turns \\n into a line break', () => {
    expect(parseStrings('greeting: Hi!\\nAsk away.')).toEqual({ greeting: 'Hi!\nAsk away.' });
  });
  it('refuses a line without a key', () => {
    expect(() => parseStrings('title: ok\njust text')).toThrow(/line 2/);
  });
});
