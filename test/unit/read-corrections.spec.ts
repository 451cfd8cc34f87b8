import { Readable } from 'node:stream';
import {
  InvalidArgumentError,
  InvalidSourceFileError,
  readCorrections,
  type ItemCorrection,
} from '../../lib';
import { metaColumnNames, protectCell } from '../../lib/readers/spreadsheet-cells';

function bytes(text: string, size = 9): Readable {
  const all = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += size) chunks.push(all.subarray(at, at + size));
  return Readable.from(chunks);
}

async function readAll(
  corrections: AsyncIterable<ItemCorrection<Record<string, unknown>>>,
): Promise<ItemCorrection<Record<string, unknown>>[]> {
  const out: ItemCorrection<Record<string, unknown>>[] = [];
  for await (const correction of corrections) out.push(correction);
  return out;
}

/** RFC 4180 quoting, as csv-stringify writes it. */
const field = (value: string, delimiter = ','): string =>
  value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

/** A failures export as the contract describes it, written here independently of the reader. */
function exportCsv(
  dataColumns: string[],
  rows: { itemId: string; line: number | null; data: string[] }[],
  delimiter = ',',
): string {
  const meta = metaColumnNames(dataColumns);
  const header = [meta.itemId, meta.line, meta.status, meta.reason, ...dataColumns];
  const lines = rows.map((row) =>
    [
      row.itemId,
      row.line === null ? '' : String(row.line),
      'failed',
      'email: not valid; age: too low',
    ]
      .concat(row.data.map(protectCell))
      .map((cell) => field(cell, delimiter))
      .join(delimiter),
  );
  return [header.map((cell) => field(cell, delimiter)).join(delimiter), ...lines].join('\n') + '\n';
}

describe('readCorrections, CSV', () => {
  it('reads an edited export back: data in header order, formulas unprotected, meta prefix found', async () => {
    // The source had a column named `_line`: the export's meta columns are `__item_id`, `__line`...
    const dataColumns = ['email', '_line', 'note'];
    const text = exportCsv(dataColumns, [
      { itemId: 'id-1', line: 4, data: ['a@b.c', '17', '=HYPERLINK("x")'] },
      { itemId: '', line: 9, data: ['-dash', '-3', 'two\nlines, "quoted"'] },
      { itemId: 'id-3', line: null, data: ['  padded  ', '', '@mention'] },
    ]);
    expect(text.split('\n')[0]).toBe('__item_id,__line,__status,__reason,email,_line,note');
    expect(await readAll(readCorrections(bytes(text), { format: 'csv' }))).toEqual([
      {
        itemId: 'id-1',
        data: { email: 'a@b.c', _line: '17', note: '=HYPERLINK("x")' },
        fileLine: 2,
      },
      { line: 9, data: { email: '-dash', _line: '-3', note: 'two\nlines, "quoted"' }, fileLine: 3 },
      { itemId: 'id-3', data: { email: '  padded  ', _line: '', note: '@mention' }, fileLine: 5 },
    ]);
  });

  it('reads a file saved with another delimiter', async () => {
    const text = exportCsv(
      ['email', 'city'],
      [{ itemId: 'id-1', line: 2, data: ['a@b.c', 'Paris; France'] }],
      ';',
    );
    expect(await readAll(readCorrections(bytes(text), { format: 'csv', delimiter: ';' }))).toEqual([
      { itemId: 'id-1', data: { email: 'a@b.c', city: 'Paris; France' }, fileLine: 2 },
    ]);
  });

  it('yields a ragged row, a bad _line or a row that names nothing as a problem, and reads on', async () => {
    const text =
      '_item_id,_line,_status,_reason,email\n' +
      'id-1,2,failed,x\n' +
      ',abc,failed,x,a@b.c\n' +
      ',,failed,x,a@b.c\n' +
      ',,,,\n' +
      'id-5,,failed,x,ok@b.c\n';
    const corrections = await readAll(readCorrections(bytes(text), { format: 'csv' }));
    expect(
      corrections.map((c) => [c.fileLine, c.itemId ?? c.line ?? null, c.problem ?? null]),
    ).toEqual([
      [2, 'id-1', '4 fields where the header has 5'],
      [3, null, 'the _line cell is "abc", which is not a line number'],
      [4, null, 'the _item_id and _line cells are both empty, so the row names no failed row'],
      [6, 'id-5', null],
    ]);
  });

  it('matches rows by line when the file has only a _line column', async () => {
    const text = '_line,email\n3,a@b.c\n';
    expect(await readAll(readCorrections(bytes(text), { format: 'csv' }))).toEqual([
      { line: 3, data: { email: 'a@b.c' }, fileLine: 2 },
    ]);
  });

  it('refuses a header without _item_id and _line, saying how to get a corrections file', async () => {
    const error = await readAll(
      readCorrections(bytes('email,name\na@b.c,Ann\n'), { format: 'csv' }),
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidSourceFileError);
    expect((error as InvalidSourceFileError).context).toEqual({ line: 1 });
    expect((error as Error).message).toContain('has neither an "_item_id" nor a "_line" column');
    expect((error as Error).message).toContain('exportFailures');
    expect((error as Error).message).toContain('reliable-imports failures <id> --format csv');
  });

  it('refuses a format it does not know, before reading anything', () => {
    expect(() => readCorrections(bytes(''), { format: 'xlsx' as 'csv' })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('readCorrections, JSONL', () => {
  it('reads itemId or line and data, numbers with every digit', async () => {
    const text =
      '{"itemId":"id-1","line":4,"status":"failed","reasons":["x"],"errorCode":null,"data":{"n":12345678901234567891}}\n' +
      '\n' +
      '{"itemId":null,"line":7,"data":{"email":"a@b.c"}}\r\n' +
      '{"itemId":"id-3","line":null,"data":{}}\n';
    expect(await readAll(readCorrections(bytes(text), { format: 'jsonl' }))).toEqual([
      { itemId: 'id-1', data: { n: '12345678901234567891' }, fileLine: 1 },
      { line: 7, data: { email: 'a@b.c' }, fileLine: 3 },
      { itemId: 'id-3', data: {}, fileLine: 4 },
    ]);
  });

  it('yields a problem for a line it cannot use, and reads on', async () => {
    const text = [
      '{"itemId":"id-1","data":{"a":1}}',
      '{"data":{"a":1}}',
      '{"line":"7","data":{"a":1}}',
      '{"line":2.5,"data":{"a":1}}',
      '{"itemId":5,"data":{"a":1}}',
      '{"itemId":"id-6","data":[1]}',
      '{"itemId":"id-7"}',
      '{not json',
      '[1]',
    ].join('\n');
    const corrections = await readAll(readCorrections(bytes(text), { format: 'jsonl' }));
    expect(corrections.map((c) => [c.fileLine, c.problem ?? null])).toEqual([
      [1, null],
      [2, 'the line has neither "itemId" nor "line", so it names no failed row'],
      [3, '"line" must be a line number; got "7"'],
      [4, '"line" must be a line number; got 2.5'],
      [5, '"itemId" must be the id of an item (a string); got 5'],
      [6, '"data" must be an object; got [1]'],
      [7, '"data" must be an object; got nothing'],
      [8, expect.stringMatching(/^invalid JSON: /)],
      [9, 'the line is not a JSON object'],
    ]);
  });
});
