import { Readable } from 'node:stream';
import { InvalidSourceFileError, readJsonl } from '../../lib';
import { bytes as byteChunks, readAll } from '../support/byte-chunks';

const bytes = (text: string | Buffer, size = 5) => byteChunks(text, size);

describe('readJsonl', () => {
  it('yields each object with its line, skipping blank lines, LF or CRLF', async () => {
    const text = '{"id":1,"name":"Ann"}\r\n\r\n  \n{"id":2,"tags":["a"]}\n{"id":3}';
    const rows = await readAll(readJsonl(bytes(text)));
    expect(rows.map((row) => [row.line, row.data, row.malformed, row.columns])).toEqual([
      [1, { id: 1, name: 'Ann' }, null, null],
      [4, { id: 2, tags: ['a'] }, null, null],
      [5, { id: 3 }, null, null],
    ]);
  });

  it('keeps every digit of a number a double cannot hold, as its text', async () => {
    const text =
      '{"big":12345678901234567891,"exact":0.1000000000000000055511151231257827,"n":42}\n';
    const [row] = await readAll(readJsonl(bytes(text)));
    expect(row.data).toEqual({
      big: '12345678901234567891',
      exact: '0.1000000000000000055511151231257827',
      n: 42,
    });
  });

  it('yields a line that is not JSON, or not an object, as malformed with its text, and reads on', async () => {
    const text = '{"id":1}\n{"id":2,\n[1,2]\n{"id":3,"id":4}\n"text"\n{"id":5}\n';
    const rows = await readAll(readJsonl(bytes(text)));
    expect(rows.map((row) => [row.line, row.data, row.malformed?.raw ?? null])).toEqual([
      [1, { id: 1 }, null],
      [2, {}, '{"id":2,'],
      [3, {}, '[1,2]'],
      [4, {}, '{"id":3,"id":4}'],
      [5, {}, '"text"'],
      [6, { id: 5 }, null],
    ]);
    expect(rows[1].malformed?.reason).toMatch(/^invalid JSON: /);
    expect(rows[2].malformed?.reason).toBe('the line is not a JSON object');
    expect(rows[3].malformed?.reason).toMatch(/^invalid JSON: Duplicate key 'id'/);
  });

  it('refuses bytes that are not UTF-8, naming their line', async () => {
    const text = Buffer.concat([
      Buffer.from('{"city":"Paris"}\n\n{"city":"Montr'),
      Buffer.from([0xe9]),
      Buffer.from('al"}\n'),
    ]);
    const rows = readJsonl(bytes(text, 3));
    expect((await rows.next()).value?.data).toEqual({ city: 'Paris' });
    const error = await rows.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidSourceFileError);
    expect((error as InvalidSourceFileError).context).toEqual({ line: 3 });
  });

  it('throws the error of an input that fails midway', async () => {
    const input = new Readable({ read() {} });
    input.push('{"a":1}\n');
    const rows = readJsonl(input);
    expect((await rows.next()).value?.data).toEqual({ a: 1 });
    const next = rows.next();
    const dropped = new Error('aborted');
    input.destroy(dropped);
    await expect(next).rejects.toBe(dropped);
  });
});
