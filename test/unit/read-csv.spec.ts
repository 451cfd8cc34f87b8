import * as fc from 'fast-check';
import { Readable } from 'node:stream';
import { InvalidArgumentError, InvalidSourceFileError, SourceRow, readCsv } from '../../lib';
import { bytes, readAll } from '../support/byte-chunks';

/** What a test compares: a row's line, data and malformed part. */
function plain(row: SourceRow<Record<string, string>>) {
  return { line: row.line, data: row.data, malformed: row.malformed };
}

async function readError(rows: AsyncIterable<unknown>): Promise<InvalidSourceFileError> {
  const error = await readAll(rows).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidSourceFileError);
  return error as InvalidSourceFileError;
}

describe('readCsv', () => {
  it('gives each row the line it starts on, counting quoted fields that span lines and blank lines', async () => {
    const text = 'name,note\n' + 'a,"one\ntwo\nthree"\n' + '\n' + '   \n' + 'b,plain\n' + 'c,"x"';
    const rows = await readAll(readCsv(bytes(text)));
    expect(rows.map(plain)).toEqual([
      { line: 2, data: { name: 'a', note: 'one\ntwo\nthree' }, malformed: null },
      { line: 7, data: { name: 'b', note: 'plain' }, malformed: null },
      { line: 8, data: { name: 'c', note: 'x' }, malformed: null },
    ]);
  });

  it('counts the lines of a CRLF file as an editor does (a CRLF inside quotes is one line)', async () => {
    const text = 'name,note\r\n' + 'a,"one\r\ntwo"\r\n' + '\r\n' + 'b,plain\r\n';
    const rows = await readAll(readCsv(bytes(text, 3)));
    expect(rows.map(plain)).toEqual([
      { line: 2, data: { name: 'a', note: 'one\r\ntwo' }, malformed: null },
      { line: 5, data: { name: 'b', note: 'plain' }, malformed: null },
    ]);
  });

  it('drops a byte order mark, and shares one frozen header between the rows', async () => {
    const rows = await readAll(readCsv(bytes('\uFEFFid,name\n1,a\n2,b\n', 1)));
    expect(rows.map(plain)).toEqual([
      { line: 2, data: { id: '1', name: 'a' }, malformed: null },
      { line: 3, data: { id: '2', name: 'b' }, malformed: null },
    ]);
    expect(rows[0].columns).toEqual(['id', 'name']);
    expect(rows[1].columns).toBe(rows[0].columns);
    expect(Object.isFrozen(rows[0].columns)).toBe(true);
  });

  it('yields a ragged row as malformed, with its raw text (all its lines) and the cells it has', async () => {
    const text = 'a,b,c\n' + '1,2\n' + '3,"x\ny",5,6,7\n' + '8,9,10\n';
    const rows = await readAll(readCsv(bytes(text)));
    expect(rows.map(plain)).toEqual([
      {
        line: 2,
        data: { a: '1', b: '2' },
        malformed: { reason: '2 fields where the header has 3', raw: '1,2' },
      },
      {
        line: 3,
        data: { a: '3', b: 'x\ny', c: '5' },
        malformed: { reason: '5 fields where the header has 3', raw: '3,"x\ny",5,6,7' },
      },
      { line: 5, data: { a: '8', b: '9', c: '10' }, malformed: null },
    ]);
  });

  it('yields a row with a stray quote as malformed and reads on', async () => {
    const text = 'a,b\n' + '1,x"y\n' + '"q"r,2\n' + '3,4\n';
    const rows = await readAll(readCsv(bytes(text)));
    expect(rows.map(plain)).toEqual([
      {
        line: 2,
        data: { a: '1', b: 'x"y' },
        malformed: {
          reason:
            'a quote inside field 2 ("b"), which is not quoted (quote the whole field and double its quotes)',
          raw: '1,x"y',
        },
      },
      {
        line: 3,
        data: { a: '"q"r', b: '2' },
        malformed: { reason: 'text after the closing quote of field 1 ("a")', raw: '"q"r,2' },
      },
      { line: 4, data: { a: '3', b: '4' }, malformed: null },
    ]);
  });

  it('refuses a header that names a column twice, or a column without a name', async () => {
    const twice = await readError(readCsv(bytes('id,email,id\n1,a,2\n')));
    expect(twice.code).toBe('INVALID_SOURCE_FILE');
    expect(twice.context).toEqual({ line: 1 });
    expect(twice.message).toContain('names the column "id" twice (columns 1 and 3)');
    const unnamed = await readError(readCsv(bytes('id,,email\n1,2,3\n')));
    expect(unnamed.message).toContain('column 2 of the header on line 1 has no name');
  });

  it('refuses an input without a header, and reads a header without rows as no rows', async () => {
    expect((await readError(readCsv(bytes('')))).message).toContain(
      'it is empty (no header and no rows)',
    );
    expect((await readError(readCsv(bytes('\n \n')))).message).toContain(
      'it is empty (no header and no rows)',
    );
    expect(await readAll(readCsv(bytes('a,b\n')))).toEqual([]);
  });

  it('refuses a quote that is never closed, naming the line it opens on, after the rows before it', async () => {
    const rows = readCsv(bytes('a,b\n1,2\n3,"open\n4,5\n6,7\n'));
    expect(plain((await rows.next()).value as SourceRow<Record<string, string>>)).toEqual({
      line: 2,
      data: { a: '1', b: '2' },
      malformed: null,
    });
    const error = await readError({ [Symbol.asyncIterator]: () => rows });
    expect(error.context).toEqual({ line: 3 });
    expect(error.message).toContain('the quote opened on line 3 is never closed');
  });

  it('refuses bytes that are not UTF-8, naming their line, after the rows before it', async () => {
    const latin1 = Buffer.concat([
      Buffer.from('name,city\nAnn,Paris\nBob,Montr'),
      Buffer.from([0xe9]), // é in Latin-1
      Buffer.from('al\nCid,Oslo\n'),
    ]);
    const rows = readCsv(bytes(latin1, 5));
    expect(((await rows.next()).value as SourceRow).data).toEqual({ name: 'Ann', city: 'Paris' });
    const error = await readError({ [Symbol.asyncIterator]: () => rows });
    expect(error.context).toEqual({ line: 3 });
    expect(error.message).toContain('line 3 is not valid UTF-8');
  });

  it('throws the error of an input that fails midway (an upload the client dropped), not hang', async () => {
    const input = new Readable({ read() {} });
    input.push('a,b\n1,2\n');
    const rows = readCsv(input);
    expect(((await rows.next()).value as SourceRow).data).toEqual({ a: '1', b: '2' });
    const next = rows.next();
    const dropped = new Error('aborted');
    input.destroy(dropped);
    await expect(next).rejects.toBe(dropped);
  });

  it('leaves the input open when it refuses the file, so that an HTTP request can still be answered', async () => {
    const input = new Readable({ read() {} });
    input.push('a,a\n1,2\n');
    await readError(readCsv(input));
    expect(input.destroyed).toBe(false);
    input.destroy();
  });

  it('reads another delimiter, and keeps blanks when trim is off', async () => {
    const semicolons = await readAll(readCsv(bytes('a;b\n"x;y"; 2 \n'), { delimiter: ';' }));
    expect(semicolons.map(plain)).toEqual([
      { line: 2, data: { a: 'x;y', b: '2' }, malformed: null },
    ]);
    const untrimmed = await readAll(readCsv(bytes('a, b\n 1 ," 2 "\n'), { trim: false }));
    expect(untrimmed.map(plain)).toEqual([
      { line: 2, data: { a: ' 1 ', ' b': ' 2 ' }, malformed: null },
    ]);
    expect(untrimmed[0].columns).toEqual(['a', ' b']);
  });

  it('refuses a delimiter that is not one character, before reading anything', () => {
    const input = bytes('a,b\n');
    expect(() => readCsv(input, { delimiter: ';;' })).toThrow(InvalidArgumentError);
    expect(() => readCsv(input, { delimiter: '"' })).toThrow(
      'Invalid argument to readCsv(): options.delimiter must be one character',
    );
  });

  it('reads any async iterable of text or bytes', async () => {
    async function* chunks() {
      yield await Promise.resolve('a,b\n1');
      yield Buffer.from(',2\n');
      yield new Uint8Array(Buffer.from('3,4'));
    }
    const rows = await readAll(readCsv(chunks()));
    expect(rows.map((row) => [row.line, row.data])).toEqual([
      [2, { a: '1', b: '2' }],
      [3, { a: '3', b: '4' }],
    ]);
  });

  it('stores a column named __proto__ as a property of the row', async () => {
    const [row] = await readAll(readCsv(bytes('__proto__,b\n1,2\n')));
    expect(Object.keys(row.data)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(row.data)).toBe(Object.prototype);
  });

  describe('on any table written as RFC 4180 CSV', () => {
    /** RFC 4180 quoting, as csv-stringify writes it. */
    const field = (value: string): string =>
      /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

    const table = fc.integer({ min: 1, max: 4 }).chain((width) =>
      fc.record({
        header: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/), {
          minLength: width,
          maxLength: width,
        }),
        rows: fc.array(
          fc.array(
            fc.oneof(
              fc.string({ unit: 'grapheme' }),
              fc.constantFrom('', ',', '"', '\n', '\r\n', ' a ', 'é€😀', 'x"y'),
            ),
            { minLength: width, maxLength: width },
          ),
          { maxLength: 8 },
        ),
        endings: fc.array(fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n'), {
          minLength: 10,
          maxLength: 10,
        }),
        chunk: fc.integer({ min: 1, max: 50 }),
      }),
    );

    it('gives the table back, each row with the line it starts on', async () => {
      await fc.assert(
        fc.asyncProperty(table, async ({ header, rows, endings, chunk }) => {
          // A row of one empty field is a blank line, which CSV cannot tell from one: quote it.
          const line = (cells: string[]) =>
            cells.length === 1 && cells[0] === '' ? '""' : cells.map(field).join(',');
          let text = '';
          let lineNumber = 1;
          const expected: { line: number; data: Record<string, string> }[] = [];
          [header, ...rows].forEach((cells, i) => {
            if (i > 0) {
              expected.push({
                line: lineNumber,
                data: Object.fromEntries(header.map((name, j) => [name, cells[j]])),
              });
            }
            const written = line(cells) + endings[i % endings.length];
            text += written;
            lineNumber += written.split('\n').length - 1;
          });
          const read = await readAll(readCsv(bytes(text, chunk), { trim: false }));
          expect(read.map((row) => ({ line: row.line, data: row.data }))).toEqual(expected);
          expect(read.every((row) => row.malformed === null)).toBe(true);
        }),
        { numRuns: 100 },
      );
    });
  });
});
