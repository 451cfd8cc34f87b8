import {
  isJsonProblem,
  serializeJsonValue,
  serializeSourceData,
  type JsonProblem,
} from '../../lib/utils/source-data.util';

/** The problem reported for `value`; fails the test when the value was serialized. */
function problemOf(result: string | JsonProblem): JsonProblem {
  expect(isJsonProblem(result)).toBe(true);
  return result as JsonProblem;
}

/** The JSON text produced for `value`; fails the test when a problem was reported. */
function jsonOf(result: string | JsonProblem): string {
  if (isJsonProblem(result)) throw new Error(`expected JSON, got ${result.path} ${result.problem}`);
  return result;
}

describe('serializeSourceData', () => {
  it('serializes a plain row to the same JSON as JSON.stringify', () => {
    const row = { email: 'a@example.com', age: 42, vip: true, note: null, tags: ['x', 'y'] };
    const json = jsonOf(serializeSourceData(row));
    expect(json).toBe(JSON.stringify(row));
    expect(JSON.parse(json)).toEqual(row);
  });

  it('turns a Date into its ISO string', () => {
    const at = new Date('2024-05-06T07:08:09.010Z');
    expect(JSON.parse(jsonOf(serializeSourceData({ at, nested: { at } })))).toEqual({
      at: '2024-05-06T07:08:09.010Z',
      nested: { at: '2024-05-06T07:08:09.010Z' },
    });
  });

  it('leaves out object properties that are undefined', () => {
    const json = jsonOf(serializeSourceData({ a: 1, b: undefined, nested: { c: undefined } }));
    expect(json).toBe('{"a":1,"nested":{}}');
  });

  it('accepts one object referenced twice when it does not contain itself', () => {
    const address = { city: 'Lyon', zip: '69001' };
    const json = jsonOf(
      serializeSourceData({ billing: address, shipping: address, all: [address] }),
    );
    expect(JSON.parse(json)).toEqual({ billing: address, shipping: address, all: [address] });
  });

  it('accepts an empty object and unusual but storable strings', () => {
    expect(jsonOf(serializeSourceData({}))).toBe('{}');
    const row = { text: 'é \u0001 \t "quoted" \\ 😀', key: 'x' };
    expect(JSON.parse(jsonOf(serializeSourceData(row)))).toEqual(row);
  });

  it.each([
    ['undefined', undefined, 'is undefined'],
    ['null', null, 'is null'],
    ['a string', 'just text', 'is a string'],
    ['a number', 42, 'is a number'],
    ['a boolean', true, 'is a boolean'],
    ['an array', [{ a: 1 }], 'is an array'],
  ])('refuses %s as an item, at the top level', (_label, value, what) => {
    const problem = problemOf(serializeSourceData(value));
    expect(problem.path).toBe('sourceData');
    expect(problem.problem).toBe(`${what}, but an item must be a plain object (one row)`);
  });

  it('reports the top-level path it is given', () => {
    expect(problemOf(serializeSourceData('x', 'correctedData')).path).toBe('correctedData');
    expect(problemOf(serializeSourceData({ n: 1n }, 'correctedData')).path).toBe('correctedData.n');
  });

  it('refuses a BigInt and says what to convert it to', () => {
    expect(serializeSourceData({ amount: 10n })).toEqual({
      path: 'sourceData.amount',
      problem: 'is a BigInt, which JSON cannot hold; convert it to a string or a number',
    });
  });

  it('refuses a cycle, at the property that closes it', () => {
    const row: Record<string, unknown> = { id: 1, child: { name: 'c' } };
    (row.child as Record<string, unknown>).parent = row;
    const problem = problemOf(serializeSourceData(row));
    expect(problem.path).toBe('sourceData.child.parent');
    expect(problem.problem).toMatch(/cycle/);
  });

  it('refuses an array that contains itself', () => {
    const list: unknown[] = [1];
    list.push(list);
    const problem = problemOf(serializeSourceData({ list }));
    expect(problem.path).toBe('sourceData.list[1]');
    expect(problem.problem).toMatch(/cycle/);
  });

  it('refuses \\u0000 in a string value', () => {
    expect(serializeSourceData({ label: 'a\u0000b' })).toEqual({
      path: 'sourceData.label',
      problem: 'contains the character \\u0000, which PostgreSQL cannot store in JSON',
    });
  });

  it('refuses \\u0000 in a key, and names the key safely', () => {
    const problem = problemOf(serializeSourceData({ ['bad\u0000key']: 1 }));
    expect(problem.path).toBe('sourceData["bad\\u0000key"]');
    expect(problem.problem).toBe('is a key containing \\u0000, which PostgreSQL cannot store');
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('refuses %s, which JSON would turn into null', (label, value) => {
    expect(serializeSourceData({ total: value })).toEqual({
      path: 'sourceData.total',
      problem: `is ${label}, which JSON cannot hold (it would become null)`,
    });
  });

  it('refuses a function and a symbol', () => {
    expect(serializeSourceData({ compute: () => 1 })).toEqual({
      path: 'sourceData.compute',
      problem: 'is a function, which JSON cannot hold',
    });
    expect(serializeSourceData({ tag: Symbol('x') })).toEqual({
      path: 'sourceData.tag',
      problem: 'is a symbol, which JSON cannot hold',
    });
  });

  it('refuses undefined inside an array, where JSON would store null', () => {
    const problem = problemOf(serializeSourceData({ values: [1, undefined] }));
    expect(problem.path).toBe('sourceData.values[1]');
    expect(problem.problem).toBe(
      'is undefined, which JSON cannot hold; use null or leave the key out',
    );
  });

  it('reports nested paths with dots for properties and brackets for indexes', () => {
    expect(problemOf(serializeSourceData({ address: { zip: 75001n } })).path).toBe(
      'sourceData.address.zip',
    );
    expect(problemOf(serializeSourceData({ tags: ['a', 'b', NaN] })).path).toBe(
      'sourceData.tags[2]',
    );
    expect(
      problemOf(serializeSourceData({ lines: [{ qty: 1 }, { qty: 2, sku: 'x\u0000' }] })).path,
    ).toBe('sourceData.lines[1].sku');
  });

  it('quotes keys that are not identifiers in the path', () => {
    expect(problemOf(serializeSourceData({ 'first name': 1n })).path).toBe(
      'sourceData["first name"]',
    );
    expect(problemOf(serializeSourceData({ 'e-mail': { '2fa': NaN } })).path).toBe(
      'sourceData["e-mail"]["2fa"]',
    );
  });

  it('reports the first problem in key order', () => {
    expect(problemOf(serializeSourceData({ a: 1, b: 2n, c: NaN })).path).toBe('sourceData.b');
  });

  it('checks what toJSON returns', () => {
    const money = { toJSON: () => ({ cents: 10n }) };
    expect(problemOf(serializeSourceData({ price: money })).path).toBe('sourceData.price.cents');
    const fine = { toJSON: () => 'ten' };
    expect(jsonOf(serializeSourceData({ price: fine }))).toBe('{"price":"ten"}');
  });
});

describe('serializeJsonValue', () => {
  it.each([
    ['a string', 'text', '"text"'],
    ['a number', 42, '42'],
    ['null', null, 'null'],
    ['an array', [1, 'two', null], '[1,"two",null]'],
    ['a boolean', false, 'false'],
    ['an object', { a: { b: [1] } }, '{"a":{"b":[1]}}'],
  ])('serializes %s at the top level', (_label, value, json) => {
    expect(serializeJsonValue(value, 'metadata')).toBe(json);
  });

  it('refuses undefined at the top level', () => {
    expect(serializeJsonValue(undefined, 'metadata')).toEqual({
      path: 'metadata',
      problem: 'is undefined, which JSON cannot hold; use null or leave the key out',
    });
  });

  it('reports problems under the path it is given', () => {
    expect(problemOf(serializeJsonValue({ counts: [1, 2n] }, 'processedData')).path).toBe(
      'processedData.counts[1]',
    );
    expect(problemOf(serializeJsonValue('a\u0000', 'sourceInfo')).path).toBe('sourceInfo');
    expect(problemOf(serializeJsonValue(NaN, 'metadata')).problem).toMatch(/is NaN/);
  });

  it('refuses a cycle and accepts a shared object', () => {
    const shared = { x: 1 };
    expect(jsonOf(serializeJsonValue([shared, shared], 'metadata'))).toBe('[{"x":1},{"x":1}]');
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    expect(problemOf(serializeJsonValue(cyclic, 'metadata'))).toEqual({
      path: 'metadata.me',
      problem: 'refers back to an object that contains it (a cycle), which JSON cannot hold',
    });
  });

  it('refuses what PostgreSQL or JSON would reject or change silently', () => {
    expect(problemOf(serializeSourceData({ name: 'a\uD800b' })).problem).toMatch(
      /unpaired UTF-16 surrogate/,
    );
    expect(problemOf(serializeSourceData({ tags: new Set(['a']) })).problem).toMatch(/is a Set/);
    expect(problemOf(serializeSourceData({ index: new Map() })).problem).toMatch(/is a Map/);
    expect(problemOf(serializeSourceData({ at: new Date('nope') })).problem).toMatch(
      /invalid Date/,
    );
    const selfJson = {
      a: 1,
      toJSON() {
        return selfJson;
      },
    };
    expect(jsonOf(serializeSourceData({ selfJson }))).toBe(JSON.stringify({ selfJson }));
    expect(jsonOf(serializeSourceData({ emoji: '\u{1F600}' }))).toBe('{"emoji":"\u{1F600}"}');
  });
});

describe('one pass: what is stored is what was checked', () => {
  it('turns a getter that throws into a problem at its path', () => {
    const row = {
      id: 1,
      address: {
        get zip(): string {
          throw new Error('lazy field failed to load');
        },
      },
    };
    expect(serializeSourceData(row)).toEqual({
      path: 'sourceData.address.zip',
      problem: 'could not be read: reading it threw Error: lazy field failed to load',
    });
  });

  it('turns a Proxy trap that throws into a problem at its path', () => {
    const keysFail = new Proxy(
      {},
      {
        ownKeys() {
          throw new TypeError('ownKeys refused');
        },
      },
    );
    expect(serializeSourceData({ lines: [{ ok: 1 }, keysFail] })).toEqual({
      path: 'sourceData.lines[1]',
      problem: 'could not be read: reading it threw TypeError: ownKeys refused',
    });
    const getFails = new Proxy(
      { a: 1 },
      {
        get: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- code may throw anything
          throw 'no';
        },
      },
    );
    expect(problemOf(serializeSourceData({ nested: getFails })).path).toBe('sourceData.nested');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(problemOf(serializeSourceData({ gone: proxy })).problem).toMatch(
      /^could not be read: reading it threw TypeError: .*revoked/,
    );
  });

  it('turns a toJSON that throws into a problem at its path', () => {
    const money = {
      toJSON(): never {
        throw new RangeError('currency unknown');
      },
    };
    expect(serializeSourceData({ price: money })).toEqual({
      path: 'sourceData.price',
      problem: 'could not be read: reading it threw RangeError: currency unknown',
    });
  });

  it('refuses 5,000 levels of nesting with a clear problem instead of a stack overflow', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 5000; i++) deep = { next: deep };
    const problem = problemOf(serializeSourceData(deep));
    expect(problem.problem).toBe(
      'is nested more than 1000 levels deep, more than the module stores; flatten it',
    );
    expect(problem.path).toBe(`sourceData${'.next'.repeat(1000)}`);
    let list: unknown[] = [];
    for (let i = 0; i < 5000; i++) list = [list];
    expect(problemOf(serializeJsonValue(list, 'metadata')).problem).toMatch(/1000 levels deep/);
  });

  it('accepts 1,000 levels, the documented limit', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 999; i++) deep = { n: deep };
    expect(JSON.parse(jsonOf(serializeSourceData(deep)))).toEqual(deep);
  });

  it('stores what toJSON returned when it was checked, not what a second call returns', () => {
    let calls = 0;
    const flaky = { toJSON: () => (++calls === 1 ? 'checked' : { amount: 10n }) };
    const json = jsonOf(serializeSourceData({ value: flaky }));
    expect(json).toBe('{"value":"checked"}');
    expect(calls).toBe(1);

    let second = 0;
    const turnsBad = { toJSON: () => (++second === 1 ? { amount: 10n } : 'fine') };
    expect(problemOf(serializeSourceData({ value: turnsBad })).path).toBe(
      'sourceData.value.amount',
    );
  });

  it('reads a getter once, and stores the value it checked', () => {
    let reads = 0;
    const row = {
      get label(): string {
        return ++reads === 1 ? 'first' : 'bad\u0000';
      },
    };
    expect(jsonOf(serializeSourceData(row))).toBe('{"label":"first"}');
    expect(reads).toBe(1);
  });

  it('writes the same text as JSON.stringify for what it accepts', () => {
    const row = {
      text: 'é "q" \\ \n\t\u0001 😀 \u2028',
      n: -0,
      big: 1e21,
      small: 5e-7,
      boxed: [new String('s'), new Number(2), new Boolean(false)],
      at: new Date('2024-05-06T07:08:09.010Z'),
      nested: { 2: 'b', 1: 'a', ['__proto__']: 'p', 'key "quoted"': null },
      buffer: Buffer.from('hi'),
    };
    Object.defineProperty(row.nested, '__proto__', { value: 'p', enumerable: true });
    expect(jsonOf(serializeSourceData(row))).toBe(JSON.stringify(row));
  });

  it('refuses a row whose toJSON makes it something other than an object', () => {
    const asText = { toJSON: () => 'a row as text' };
    expect(problemOf(serializeSourceData(asText)).problem).toBe(
      'is not an object once its toJSON() is applied, but an item must be a plain object (one row)',
    );
  });

  it('refuses a row over 16 MiB of UTF-8, measured in bytes and not in UTF-16 units', () => {
    // 6 million "é" are 6 million UTF-16 units but 12 million bytes; 9 million are 18 million bytes.
    expect(jsonOf(serializeSourceData({ text: 'é'.repeat(6_000_000) })).length).toBe(6_000_011);
    expect(serializeSourceData({ text: 'é'.repeat(9_000_000) })).toEqual({
      path: 'sourceData',
      problem:
        'is 18,000,011 bytes of JSON, over the limit of 16,777,216 bytes (16 MiB) a value may have; ' +
        'split it into smaller rows, or store the large content elsewhere and keep a reference to it',
    });
  });
});
