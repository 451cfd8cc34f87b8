import { errorDetailsOf, messageOf, toError } from '../../lib/utils/error-details.util';
import {
  cutText,
  hasUnstorableEscape,
  storableDetailsJson,
  storableText,
  TEXT_LIMITS,
  textOf,
} from '../../lib/utils/storable-text.util';

const HALF_EMOJI = 'Cafe Lune🌙 Paris'.slice(0, 10);

describe('storableText', () => {
  it('keeps text that PostgreSQL stores as it is, with no original', () => {
    expect(storableText('Cafe Lune🌙 Paris', 100)).toEqual({ text: 'Cafe Lune🌙 Paris' });
  });

  it.each([
    ['a NUL', 'bad\u0000byte', 'bad\uFFFDbyte', '"bad\\u0000byte"'],
    ['half an emoji (a lone high surrogate)', HALF_EMOJI, 'Cafe Lune\uFFFD', '"Cafe Lune\\ud83c"'],
    ['a lone low surrogate', '\uDF19 moon', '\uFFFD moon', '"\\udf19 moon"'],
  ])('replaces %s with U+FFFD and keeps the original escaped', (_label, raw, text, original) => {
    expect(storableText(raw, 100)).toEqual({ text, original });
  });

  it('cuts long text with a marker, never between the halves of a character', () => {
    expect(storableText('x'.repeat(30), 10).text).toBe(
      `${'x'.repeat(10)}… [cut: 20 more characters]`,
    );
    // The 10th character is the first half of 🌙: the cut goes before it.
    expect(cutText('Cafe Lune🌙 Paris', 10)).toBe('Cafe Lune… [cut: 8 more characters]');
  });

  it('turns anything into text without throwing', () => {
    expect(textOf(42)).toBe('42');
    expect(textOf(null)).toBe('null');
    expect(textOf(undefined)).toBe('undefined');
    expect(textOf(Symbol('s'))).toBe('Symbol(s)');
    expect(textOf(Object.create(null))).toBe('[unprintable object]');
    expect(
      textOf({
        toString() {
          throw new Error('no');
        },
      }),
    ).toBe('[unprintable object]');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(textOf(proxy)).toBe('[unprintable object]');
  });
});

describe('hasUnstorableEscape', () => {
  it.each([
    ['"a\\u0000b"', true],
    ['"\\ud83c"', true],
    ['"a\\\\u0000b"', false],
    ['"a\\\\\\u0000b"', true],
    ['"🌙"', false],
  ])('%s → %p', (json, expected) => {
    expect(hasUnstorableEscape(json)).toBe(expected);
  });
});

describe('storableDetailsJson', () => {
  const described = (details: unknown): string =>
    (JSON.parse(storableDetailsJson(details)) as { unstorableDetails: string }).unstorableDetails;

  it('stores plain details as they are', () => {
    expect(storableDetailsJson({ a: 1, b: ['x'] })).toBe('{"a":1,"b":["x"]}');
  });

  it('describes what JSON or jsonb cannot hold', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(described(cycle)).toMatch(/^details\.self refers back/);
    expect(described({ id: 1n })).toMatch(/^details\.id is a BigInt/);
    expect(described({ name: 'a\u0000b' })).toMatch(
      /^details\.name contains the character \\u0000/,
    );
    expect(described({ name: HALF_EMOJI })).toMatch(/unpaired UTF-16 surrogate/);
    expect(described({ big: 'x'.repeat(TEXT_LIMITS.details) })).toMatch(/over the limit of 100000/);
  });

  it('describes details that cannot even be read', () => {
    const getter = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter says no');
      },
    });
    expect(described(getter)).toBe(
      'details.boom could not be read: reading it threw Error: getter says no',
    );
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(described(proxy)).toMatch(/^details could not be read: /);
  });

  it('stores what it checked, even from a getter that answers differently each time', () => {
    let reads = 0;
    const changing = Object.defineProperty({}, 'name', {
      enumerable: true,
      get: () => (++reads === 1 ? 'fine' : 'bad\u0000'),
    });
    expect(storableDetailsJson(changing)).toBe('{"name":"fine"}');
  });
});

describe('error details', () => {
  it('reads hostile errors without throwing', () => {
    const messageGetter = Object.defineProperty(new Error('x'), 'message', {
      get() {
        throw new Error('no message');
      },
    });
    expect(messageOf(messageGetter)).toBe('Error');
    const nameGetter = Object.defineProperty(new TypeError('boom'), 'name', {
      get() {
        throw new Error('no name');
      },
    });
    expect(errorDetailsOf(nameGetter, { stack: true })).toMatchObject({ name: 'TypeError' });
    const { proxy, revoke } = Proxy.revocable(new Error('proxied'), {});
    revoke();
    const error = toError(proxy);
    expect(error.message).toBe('Non-error thrown: [unprintable object]');
  });

  it('keeps the stack only when asked, and never for a validation failure', () => {
    const error = new Error('a\u0000b');
    expect(errorDetailsOf(error, { stack: false })).toEqual({
      name: 'Error',
      originalMessage: '"a\\u0000b"',
    });
    expect(errorDetailsOf(error, { stack: true }).stack).toMatch(/^Error: a\uFFFDb\n/);
    const validation = Object.assign(new Error('bad'), { reasons: ['bad', 7] });
    expect(errorDetailsOf(validation, { stack: true })).toEqual({
      name: 'Error',
      reasons: ['bad', '7'],
    });
  });
});
