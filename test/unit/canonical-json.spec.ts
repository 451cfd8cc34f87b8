import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  isJsonProblem,
  serializeSourceData,
  sortedJson,
  type JsonProblem,
} from '../../lib/utils/source-data.util';

function text(result: string | JsonProblem): string {
  if (isJsonProblem(result)) throw new Error(`expected JSON, got ${result.path} ${result.problem}`);
  return result;
}

const sorted = (value: unknown) => text(serializeSourceData(value, 'sourceData', 'sorted'));
const asWritten = (value: unknown) => text(serializeSourceData(value, 'sourceData', 'as-written'));
const hash = (json: string) => createHash('sha256').update(json).digest('hex');

/** A copy of `value` whose objects, at every level, got their keys in the order `order` picks. */
function reordered(value: unknown, order: (keys: string[]) => string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => reordered(item, order));
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const key of order(Object.keys(value))) {
    // defineProperty, so that a "__proto__" key is an own property as JSON.parse makes it.
    Object.defineProperty(copy, key, {
      value: reordered((value as Record<string, unknown>)[key], order),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** A permutation of the keys drawn from a seed (a small linear congruential generator). */
const shuffleWith =
  (seed: number) =>
  (keys: string[]): string[] => {
    let state = seed >>> 0;
    const out = [...keys];
    for (let i = out.length - 1; i > 0; i--) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const j = state % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };

/** Rows as JSON holds them, with keys of any text PostgreSQL can store. */
const rows = fc
  .dictionary(fc.string({ unit: 'binary' }), fc.jsonValue(), { maxKeys: 8 })
  .map((row) => JSON.parse(JSON.stringify(row)) as Record<string, unknown>)
  .filter((row) => !isJsonProblem(serializeSourceData(row)));

describe('canonical source data (keys sorted, for the idempotency hash)', () => {
  it('sorts keys at every level, by UTF-16 code unit', () => {
    expect(sorted({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 } })).toBe(
      '{"a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}',
    );
    // Not numerically ("10" before "9"), not by code point (U+1F600 is D83D DE00, below U+FFFF).
    expect(sorted({ 9: 'nine', 10: 'ten' })).toBe('{"10":"ten","9":"nine"}');
    expect(sorted({ '\uffff': 1, '😀': 2, é: 3, z: 4, Z: 5 })).toBe(
      '{"Z":5,"z":4,"é":3,"😀":2,"\uffff":1}',
    );
  });

  it('sorts each list of keys by its own keys, when lists begin alike or repeat', () => {
    expect(sorted({ z: 1, b: 2 })).toBe('{"b":2,"z":1}');
    expect(sorted({ z: 1, a: 2, c: 3 })).toBe('{"a":2,"c":3,"z":1}');
    expect(sorted({ z: 1, b: 2 })).toBe('{"b":2,"z":1}');
    expect(sorted({ z: 1, b: { z: 1, b: 2, a: 0 } })).toBe('{"b":{"a":0,"b":2,"z":1},"z":1}');
  });

  it('leaves the text as written alone, and arrays in their order', () => {
    expect(asWritten({ b: 1, a: 2 })).toBe('{"b":1,"a":2}');
    expect(sorted({ list: [3, 1, 2] })).toBe('{"list":[3,1,2]}');
  });

  it('gives any order of the same keys the same text and hash', () => {
    fc.assert(
      fc.property(rows, fc.integer(), (row, seed) => {
        const other = reordered(row, shuffleWith(seed));
        expect(hash(sorted(other))).toBe(hash(sorted(row)));
        expect(sorted(reordered(row, (keys) => [...keys].reverse()))).toBe(sorted(row));
      }),
      { numRuns: 300 },
    );
  });

  it('holds the same value as the text as written, and sortedJson of that text is the same text', () => {
    fc.assert(
      fc.property(rows, (row) => {
        expect(JSON.parse(sorted(row))).toEqual(JSON.parse(asWritten(row)));
        expect(sortedJson(asWritten(row))).toBe(sorted(row));
      }),
      { numRuns: 300 },
    );
  });
});
