import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { HOLD_LOCK } from '../fixtures/cli/cli-imports.module';
import { runCli, startCli, type CliRun } from '../support/built-cli';
import type { TestDatabase } from '../support/test-database';
import { useTestDatabase } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

/**
 * A TCP proxy to PostgreSQL that the test can pull the plug on: `cut()` drops every connection and
 * refuses new ones, as a database server that went away does.
 */
async function databaseProxy(url: string): Promise<{ url: string; cut: () => void }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    cut: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A row of `failures --json`: the module's `FailedRow`, as JSON. */
interface FailedRowJson {
  itemId: string;
  batchId: string;
  itemIndex: number;
  line: number | null;
  status: string;
  reasons: string[];
  errorCode: string | null;
  rawLine: string | null;
  data: Record<string, unknown>;
  corrected: boolean;
  resolvedBy: string | null;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('the reliable-imports command-line tool (built binary, real PostgreSQL)', () => {
  const file = useTestDatabase({ empty: true });
  let db: TestDatabase;
  let dir: string;
  let sql: Client;
  let run: (args: string[], env?: Record<string, string | undefined>) => CliRun;

  beforeAll(async () => {
    db = file.db;
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-'));
    run = (args, env = {}) => runCli(args, { env: { DATABASE_URL: db.url, ...env } });
    sql = await file.connect();
  });

  /** Runs a command that loads the user's module, as the commands the tool prints do. */
  const runWithModule = (...args: string[]): CliRun => run(['--module', USER_MODULE, ...args]);

  const batchCount = async () =>
    Number((await sql.query('SELECT count(*) AS n FROM import_batches')).rows[0].n);

  const runTimes = async (batchId: string) =>
    (
      await sql.query(
        'SELECT started_at, completed_at, retry_count, locked_by FROM import_batches WHERE id = $1',
        [batchId],
      )
    ).rows[0] as Record<string, unknown>;

  /** An item's stored JSON, one entry per key with the value's JSON text as PostgreSQL keeps it. */
  async function storedJson(
    itemId: string,
    column: 'source_data' | 'corrected_data',
  ): Promise<Record<string, string>> {
    const { rows } = await sql.query<{ key: string; value: string }>(
      `SELECT e.key, e.value::text AS value FROM import_batch_items i, jsonb_each(i.${column}) e WHERE i.id = $1`,
      [itemId],
    );
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  /** Imports a file that must be refused whole: exit 2, the message on stderr, and no batch stored. */
  async function expectRefused(name: string, content: string | Buffer, message: RegExp) {
    const file = join(dir, name);
    writeFileSync(file, content);
    const before = await batchCount();
    const result = runWithModule('import', 'contact', file);
    expect(result.stderr).toMatch(message);
    expect(result.status).toBe(2);
    expect(await batchCount()).toBe(before);
    return result;
  }

  /** The unresolved rows of a batch's tree, as `failures --json` gives them. */
  function failuresOf(batchId: string): FailedRowJson[] {
    const result = run(['--json', 'failures', batchId]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    return JSON.parse(result.stdout) as FailedRowJson[];
  }

  /** Which of these e-mails the processor wrote to its contacts table, sorted. */
  const contactsIn = async (emails: string[]) =>
    (
      await sql.query<{ email: string }>(
        'SELECT email FROM contacts WHERE email = ANY($1) ORDER BY email',
        [emails],
      )
    ).rows.map((row) => row.email);

  it('prints its help', () => {
    const { status, stdout } = run(['--help']);
    expect(status).toBe(0);
    for (const command of [
      'migrate',
      'import',
      'list',
      'show',
      'check',
      'failures',
      'logs',
      'correct',
      'reprocess',
      'process',
    ]) {
      expect(stdout).toContain(command);
    }
  });

  it('says to run migrate first when the tables do not exist', () => {
    const { status, stderr } = run(['list']);
    expect(status).toBe(2);
    expect(stderr).toMatch(
      /^error: The database lacks what nestjs-reliable-imports needs: table "import_batches"/,
    );
    expect(stderr).toContain('run "reliable-imports migrate" first.');
    // The module's startup check, by its code.
    const json = run(['--json', 'list']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: 'SCHEMA_NOT_READY',
        message: expect.stringContaining('run "reliable-imports migrate" first'),
      },
    });
  });

  it('migrates, then finds nothing left to migrate', () => {
    expect(run(['migrate'])).toMatchObject({
      status: 0,
      stdout: expect.stringContaining('Ran CreateReliableImportsSchema'),
    });
    expect(run(['migrate'])).toMatchObject({
      status: 0,
      stdout: expect.stringContaining('up to date'),
    });
  });

  it('imports a CSV with a malformed line (a failed row with its line, reason and text; the rest imported), then corrects and reprocesses', async () => {
    const file = join(dir, 'contacts.csv');
    writeFileSync(file, 'email,name\na@x.com,A\nbad-email,B\nc@x.com,C,extra\nd@x.com,D\n');
    const imported = runWithModule('--json', 'import', 'contact', file);
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(1);
    const summary = JSON.parse(imported.stdout) as { batchId: string };
    expect(summary).toMatchObject({ totalItems: 4, completedItems: 2, failedItems: 2 });
    expect(summary).not.toHaveProperty('skippedLines');
    expect(await contactsIn(['a@x.com', 'bad-email', 'c@x.com', 'd@x.com'])).toEqual([
      'a@x.com',
      'd@x.com',
    ]);

    const [invalid, malformed] = failuresOf(summary.batchId);
    expect(invalid).toEqual({
      itemId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      batchId: summary.batchId,
      itemIndex: 1,
      line: 3,
      status: 'failed',
      reasons: ['email is malformed'],
      errorCode: 'VALIDATION_FAILED',
      rawLine: null,
      data: { email: 'bad-email', name: 'B' },
      corrected: false,
      resolvedBy: null,
    });
    // The ragged line is a row like the others: its line, its text, and why it could not be read.
    expect(malformed).toMatchObject({
      batchId: summary.batchId,
      itemIndex: 2,
      line: 4,
      status: 'failed',
      reasons: [
        expect.stringContaining(
          'Line 4 could not be read as a row: 3 fields where the header has 2',
        ),
      ],
      errorCode: 'MALFORMED_LINE',
      rawLine: 'c@x.com,C,extra',
      corrected: false,
      resolvedBy: null,
    });

    // In text, the summary and the commands of a recovery, with the module in use.
    const text = runWithModule('import', 'contact', file);
    expect(text.status).toBe(1);
    const textBatch = /^batch\s+([0-9a-f-]{36})$/m.exec(text.stdout)?.[1] as string;
    expect(text.stdout).toMatch(/completed\s+2\nfailed\s+2/);
    expect(text.stdout).toContain('2 row(s) need a fix.');
    expect(text.stdout).toContain(
      `\n  reliable-imports --module ${USER_MODULE} failures ${textBatch} --format csv -o fix.csv\n` +
        `  reliable-imports --module ${USER_MODULE} reprocess ${textBatch} --corrections fix.csv\n`,
    );

    // Read-only commands exit 0 when they ran, whatever the batch holds.
    const shown = run(['show', summary.batchId]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/status\s+completed_with_errors/);
    expect(shown.stdout).toMatch(/rows\s+2 of 4 in \(2 the first time, 0 by reprocesses\)/);
    expect(shown.stdout).toMatch(/unresolved\s+2/);

    const listed = run(['list', '--status', 'completed_with_errors', '--type', 'contact']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(summary.batchId);
    expect(run(['list', '--status', 'nonsense']).status).toBe(2);

    const table = run(['failures', summary.batchId]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^line\s+item\s+status\s+reason\s+corrected\s+data$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^3\\s+${invalid.itemId}\\s+failed\\s+email is malformed`, 'm'),
    );
    expect(table.stdout).toMatch(
      new RegExp(`^4\\s+${malformed.itemId}\\s+failed\\s+Line 4 could not`, 'm'),
    );

    expect(run(['correct', invalid.itemId, 'not json']).status).toBe(2);
    const corrected = run(['correct', invalid.itemId, '{"email":"b@x.com","name":"B"}']);
    expect(corrected).toMatchObject({ status: 0, stderr: '' });
    // The command to run next names the module reprocess needs: a placeholder when none was given.
    expect(corrected.stdout).toContain(
      `Corrected line 3 of batch ${summary.batchId}; run "reliable-imports --module <your compiled module.js#Module> reprocess ${summary.batchId}"`,
    );

    const logs = run(['logs', summary.batchId]);
    expect(logs.status).toBe(0);
    expect(logs.stdout).toContain('Item 1 corrected');

    // A line that could not be read stays a failed row until it is corrected: not reprocessed as it is.
    const first = runWithModule('--json', 'reprocess', summary.batchId);
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      status: 'completed',
      totalItems: 1,
      completedItems: 1,
      parentBatchId: summary.batchId,
      lineage: { rootBatchId: summary.batchId, resolved: 1, unresolved: 1 },
    });
    expect(failuresOf(summary.batchId)).toEqual([
      expect.objectContaining({ itemId: malformed.itemId, line: 4, corrected: false }),
    ]);
    expect(run(['check', summary.batchId]).status).toBe(1);

    expect(run(['correct', malformed.itemId, '--set', 'name=Cee'])).toMatchObject({
      status: 0,
      stdout: expect.stringContaining(`Corrected line 4 of batch ${summary.batchId}`),
    });
    const second = runWithModule('--json', 'reprocess', summary.batchId);
    expect(second.status).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      status: 'completed',
      completedItems: 1,
      lineage: { totalRows: 4, completedFirstTime: 2, resolved: 2, unresolved: 0 },
    });
    expect(await contactsIn(['b@x.com', 'c@x.com'])).toEqual(['b@x.com', 'c@x.com']);
    expect(failuresOf(summary.batchId)).toEqual([]);
    expect(run(['check', summary.batchId]).status).toBe(0);

    const nothingLeft = runWithModule('reprocess', summary.batchId);
    expect(nothingLeft.status).toBe(2);
    expect(nothingLeft.stderr).toContain('has no rows left to reprocess');
  });

  it('refuses a CSV with an unclosed quote, which would swallow the rest of the file, and stores nothing', () => {
    const file = join(dir, 'unclosed.csv');
    writeFileSync(file, 'email,name\nq1@x.com,A\n"q2@x.com,B\nq3@x.com,C\n');
    const before = run(['--json', 'list']).stdout;
    const { status, stderr } = runWithModule('import', 'contact', file);
    expect(status).toBe(2);
    // Named by its path first: the readers do not know the file's name, the tool does.
    expect(stderr).toMatch(
      new RegExp(
        `^error: ${escape(file)}: Cannot read the file: the quote opened on line 3 is never closed`,
      ),
    );
    expect(stderr).toContain('Close the quote');
    const json = runWithModule('--json', 'import', 'contact', file);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { code: 'INVALID_SOURCE_FILE', message: expect.stringMatching(/^.*unclosed\.csv: /) },
    });
    expect(run(['--json', 'list']).stdout).toBe(before);
  });

  it('imports JSON lines, keeping the malformed ones as failed rows with their line and text', async () => {
    const file = join(dir, 'contacts.jsonl');
    writeFileSync(file, '{"email":"e@x.com"}\n{oops\n[1]\n{"email":"f@x.com"}\n');
    const { status, stdout } = runWithModule('--json', 'import', 'contact', file);
    expect(status).toBe(1);
    const summary = JSON.parse(stdout) as { batchId: string };
    expect(summary).toMatchObject({ totalItems: 4, completedItems: 2, failedItems: 2 });
    expect(await contactsIn(['e@x.com', 'f@x.com'])).toEqual(['e@x.com', 'f@x.com']);
    expect(failuresOf(summary.batchId)).toEqual([
      expect.objectContaining({
        line: 2,
        itemIndex: 1,
        errorCode: 'MALFORMED_LINE',
        reasons: [expect.stringMatching(/^Line 2 could not be read as a row: invalid JSON/)],
        rawLine: '{oops',
        data: {},
      }),
      expect.objectContaining({
        line: 3,
        itemIndex: 2,
        errorCode: 'MALFORMED_LINE',
        reasons: [
          expect.stringContaining(
            'Line 3 could not be read as a row: the line is not a JSON object',
          ),
        ],
        rawLine: '[1]',
        data: {},
      }),
    ]);
  });

  it('refuses a CSV whose header names a column twice, instead of keeping only the last one', async () => {
    await expectRefused(
      'duplicate-header.csv',
      'email,name,Name, name\ndup@x.com,A,B,C\n',
      /duplicate-header\.csv: .*the header on line 1 names the column "name" twice \(columns 2 and 4\)/,
    );
    // Blank lines before the header do not shift the line reported.
    await expectRefused(
      'duplicate-header-late.csv',
      '\n\nemail,email\ndup@x.com,dup2@x.com\n',
      /the header on line 3 names the column "email" twice/,
    );
    // In JSON lines, a key given twice with two values is a malformed line: a failed row with its line,
    // its text and the reason, rather than one of the two values kept unseen.
    const file = join(dir, 'duplicate-key.jsonl');
    writeFileSync(file, '{"email":"k1@x.com"}\n{"email":"k2@x.com","email":"k3@x.com"}\n');
    const { status, stdout } = runWithModule('--json', 'import', 'contact', file);
    expect(status).toBe(1);
    const summary = JSON.parse(stdout) as { batchId: string };
    expect(summary).toMatchObject({ totalItems: 2, completedItems: 1, failedItems: 1 });
    expect(failuresOf(summary.batchId)).toEqual([
      expect.objectContaining({
        line: 2,
        errorCode: 'MALFORMED_LINE',
        reasons: [expect.stringContaining("Duplicate key 'email'")],
        rawLine: '{"email":"k2@x.com","email":"k3@x.com"}',
        data: {},
      }),
    ]);
    expect(await contactsIn(['k2@x.com', 'k3@x.com'])).toEqual([]);
  });

  it('keeps every digit of JSONL numbers, in import and in correct', async () => {
    const file = join(dir, 'numbers.jsonl');
    writeFileSync(
      file,
      '{"email":"n1@x.com","big":12345678901234567891,"precise":0.1000000000000000055511151231257827,' +
        '"safe":9007199254740991,"tenth":0.1,"negative":-12.5,"exponent":1e3,"nested":{"ids":[12345678901234567891,7]}}\n' +
        '{"email":"bad-number","big":98765432109876543210}\n',
    );
    const imported = runWithModule('--json', 'import', 'contact', file);
    expect(imported.stderr).toBe('');
    const { batchId } = JSON.parse(imported.stdout) as { batchId: string };
    const items = await sql.query<{ id: string; item_index: number }>(
      'SELECT id, item_index FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index',
      [batchId],
    );
    expect(await storedJson(items.rows[0].id, 'source_data')).toEqual({
      email: '"n1@x.com"',
      big: '"12345678901234567891"',
      precise: '"0.1000000000000000055511151231257827"',
      safe: '9007199254740991',
      tenth: '0.1',
      negative: '-12.5',
      exponent: '1000',
      nested: '{"ids": ["12345678901234567891", 7]}',
    });

    const failed = items.rows[1].id;
    expect(await storedJson(failed, 'source_data')).toMatchObject({
      big: '"98765432109876543210"',
    });
    const corrected = run([
      'correct',
      failed,
      '{"email":"n2@x.com","big":98765432109876543210,"precise":2.0000000000000000001}',
    ]);
    expect(corrected).toMatchObject({ status: 0, stderr: '' });
    expect(await storedJson(failed, 'corrected_data')).toEqual({
      email: '"n2@x.com"',
      big: '"98765432109876543210"',
      precise: '"2.0000000000000000001"',
    });
  });

  it('refuses a file with bytes that are not UTF-8, with the line, instead of storing U+FFFD', async () => {
    const latin1 = Buffer.from('Zoë', 'latin1');
    await expectRefused(
      'latin1.csv',
      Buffer.concat([Buffer.from('email,name\nu1@x.com,A\nu2@x.com,'), latin1, Buffer.from('\n')]),
      /line 3 is not valid UTF-8/,
    );
    await expectRefused(
      'latin1.jsonl',
      Buffer.concat([
        Buffer.from('{"email":"u3@x.com"}\n{"email":"u4@x.com","name":"'),
        latin1,
        Buffer.from('"}\n'),
      ]),
      /line 2 is not valid UTF-8/,
    );
  });

  it('keeps a row holding a NUL character as a failed row with its line, and imports the other rows', async () => {
    const jsonl = join(dir, 'nul.jsonl');
    writeFileSync(
      jsonl,
      '{"email":"z1@x.com"}\n{"email":"z2@x.com","name":"A\\u0000B"}\n{"email":"z3@x.com"}\n',
    );
    const fromJsonl = runWithModule('--json', 'import', 'contact', jsonl);
    expect(fromJsonl.stderr).toBe('');
    expect(fromJsonl.status).toBe(1);
    const jsonlBatch = JSON.parse(fromJsonl.stdout) as { batchId: string };
    expect(jsonlBatch).toMatchObject({ totalItems: 3, completedItems: 2, failedItems: 1 });
    expect(failuresOf(jsonlBatch.batchId)).toEqual([
      expect.objectContaining({
        line: 2,
        errorCode: 'MALFORMED_LINE',
        reasons: [
          expect.stringMatching(
            /^Line 2 could not be read as a row: .*name contains the character \\u0000/,
          ),
        ],
      }),
    ]);

    const csv = join(dir, 'nul.csv');
    writeFileSync(csv, 'email,name\nz4@x.com,A\nz5@x.com,B\u0000C\nz6@x.com,C\n');
    const fromCsv = runWithModule('import', 'contact', csv);
    expect(fromCsv.stderr).toBe('');
    expect(fromCsv.status).toBe(1);
    expect(fromCsv.stdout).toMatch(/completed\s+2\nfailed\s+1/);
    const csvBatch = /^batch\s+([0-9a-f-]{36})$/m.exec(fromCsv.stdout)?.[1] as string;
    expect(failuresOf(csvBatch)).toEqual([
      expect.objectContaining({
        line: 3,
        errorCode: 'MALFORMED_LINE',
        reasons: [
          expect.stringMatching(
            /^Line 3 could not be read as a row: .*name contains the character \\u0000/,
          ),
        ],
      }),
    ]);
    expect(await contactsIn(['z1@x.com', 'z3@x.com', 'z4@x.com', 'z6@x.com'])).toHaveLength(4);
  });

  it('strips a byte order mark at the start of a JSONL file instead of losing line 1', async () => {
    const file = join(dir, 'bom.jsonl');
    writeFileSync(file, '\uFEFF{"email":"bom1@x.com"}\n{"email":"bom2@x.com"}\n');
    const { status, stdout } = runWithModule('--json', 'import', 'contact', file);
    expect(status).toBe(0);
    const { batchId } = JSON.parse(stdout) as { batchId: string };
    expect(JSON.parse(stdout)).toMatchObject({ totalItems: 2, completedItems: 2, failedItems: 0 });
    expect(failuresOf(batchId)).toEqual([]);
    expect(await contactsIn(['bom1@x.com', 'bom2@x.com'])).toEqual(['bom1@x.com', 'bom2@x.com']);
  });

  it('refuses a file with no rows (empty, header only, only blank lines) and stores nothing', async () => {
    await expectRefused('empty.csv', '', /empty\.csv: Cannot read the file: it is empty/);
    await expectRefused(
      'header-only.csv',
      '\uFEFFemail,name\r\n',
      /header-only\.csv has no rows to import: it has a header line and no rows/,
    );
    await expectRefused(
      'empty.jsonl',
      '\n\n',
      /empty\.jsonl has no rows to import: .*one JSON object per line/,
    );
  });

  it('keeps a file of malformed lines only as failed rows, nothing lost', () => {
    const file = join(dir, 'all-bad.jsonl');
    writeFileSync(file, '{oops\n[1]\n');
    const { status, stdout } = runWithModule('--json', 'import', 'contact', file);
    expect(status).toBe(1);
    const { batchId } = JSON.parse(stdout) as { batchId: string };
    expect(JSON.parse(stdout)).toMatchObject({ totalItems: 2, completedItems: 0, failedItems: 2 });
    expect(failuresOf(batchId).map((row) => [row.line, row.rawLine])).toEqual([
      [1, '{oops'],
      [2, '[1]'],
    ]);
  });

  it('answers mistakes with exit status 2 and a message that says what to do', () => {
    const wrongId = run(['show', '6f1d3c1e-0000-4000-8000-000000000000']);
    expect(wrongId).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('does not exist. Check the id'),
    });

    const missing = runWithModule('import', 'contact', join(dir, 'nope.csv'));
    expect(missing).toMatchObject({ status: 2, stderr: expect.stringContaining('does not exist') });

    const noProcessor = run(['import', 'contact', join(dir, 'contacts.csv')]);
    expect(noProcessor).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('Registered types: (none)'),
    });

    const badModule = run(['--module', 'nowhere.js', 'list']);
    expect(badModule).toMatchObject({ status: 2, stderr: expect.stringContaining('--module') });

    const noDatabase = run(['list'], { DATABASE_URL: 'postgres://root@127.0.0.1:1/nowhere' });
    expect(noDatabase).toMatchObject({
      status: 3,
      stderr: expect.stringContaining('Cannot connect to the database'),
    });
    expect(noDatabase.stderr).toContain('Check that the server is running');
    // Only the tool's own message: no connection retries or stack traces from Nest and TypeORM.
    expect(noDatabase.stderr).not.toMatch(/Retrying|ExceptionHandler|\n\s+at /);

    expect(run(['bogus']).status).toBe(2);
    expect(run(['list', '--limit', 'x'])).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('give a whole number from 1 to 1000'),
    });
    expect(run(['logs', '6f1d3c1e-0000-4000-8000-000000000000', '--level', 'bogus']).status).toBe(
      2,
    );
    expect(noProcessor.stderr).toContain('--module dist/imports.module.js#ImportsModule');
  });
  it('imports with --key auto once: the same file again brings back the first batch, with the same exit status', async () => {
    const file = join(dir, 'keyed.csv');
    writeFileSync(file, 'email,name\nk1@x.com,A\nnot-an-email,B\nk3@x.com,C\n');
    const first = runWithModule('--json', 'import', 'contact', file, '--key', 'auto');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(1);
    const batch = JSON.parse(first.stdout) as { batchId: string; idempotencyKey: string };
    expect(batch).toMatchObject({ importedBefore: false, completedItems: 2, failedItems: 1 });
    expect(batch.idempotencyKey).toMatch(/^sha256:[0-9a-f]{64}$/);

    const count = await batchCount();
    const times = await runTimes(batch.batchId);
    const again = runWithModule('--json', 'import', 'contact', file, '--key', 'auto');
    expect(again.status).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({
      batchId: batch.batchId,
      idempotencyKey: batch.idempotencyKey,
      importedBefore: true,
      completedItems: 2,
      failedItems: 1,
    });
    expect(await batchCount()).toBe(count);
    // Not run again: its timestamps are those of the first run.
    expect(await runTimes(batch.batchId)).toEqual(times);
    const text = runWithModule('import', 'contact', file, '--key', 'auto');
    expect(text.stdout).toContain(`This file was imported before (key ${batch.idempotencyKey})`);
    expect(text.stdout).toContain(batch.batchId);

    // A key of one's own: the same key with other content is refused, and nothing is stored.
    const own = runWithModule('--json', 'import', 'contact', file, '--key', 'mine-1');
    expect(own.status).toBe(1);
    const other = join(dir, 'keyed-other.csv');
    writeFileSync(other, 'email,name\nk9@x.com,Z\n');
    const conflict = runWithModule('--json', 'import', 'contact', other, '--key', 'mine-1');
    expect(conflict.status).toBe(2);
    expect(JSON.parse(conflict.stdout)).toMatchObject({ error: { code: 'IDEMPOTENCY_CONFLICT' } });
    expect(run(['import', 'contact', file, '--key', ' ']).status).toBe(2);

    // `process` on a finished batch shows it as it is, with the exit status of what it holds.
    const processed = runWithModule('--json', 'process', batch.batchId);
    expect(processed.status).toBe(1);
    expect(JSON.parse(processed.stdout)).toMatchObject({ batchId: batch.batchId, failedItems: 1 });
  });

  it('reads a CSV with --delimiter, and refuses a delimiter that is not one character', async () => {
    const file = join(dir, 'semicolons.csv');
    writeFileSync(file, 'email;name\nsemi1@x.com;Smith, Anna\nsemi2@x.com;B\n');
    const imported = runWithModule('--json', 'import', 'contact', file, '--delimiter', ';');
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(0);
    const { batchId } = JSON.parse(imported.stdout) as { batchId: string };
    const { rows } = await sql.query<{ source_data: unknown }>(
      'SELECT source_data FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index',
      [batchId],
    );
    expect(rows.map((row) => row.source_data)).toEqual([
      { email: 'semi1@x.com', name: 'Smith, Anna' },
      { email: 'semi2@x.com', name: 'B' },
    ]);

    const tabs = join(dir, 'tabs.csv');
    writeFileSync(tabs, 'email\tname\ntab1@x.com\tT\n');
    expect(runWithModule('import', 'contact', tabs, '--delimiter', '\\t').status).toBe(0);

    for (const wrong of [';;', '', '"', '\n']) {
      const refused = run(['--json', 'import', 'contact', file, '--delimiter', wrong]);
      expect(refused.status).toBe(2);
      expect(JSON.parse(refused.stdout)).toMatchObject({
        error: { code: 'USAGE', message: expect.stringContaining('give one character') },
      });
    }
    const jsonl = join(dir, 'contacts.jsonl');
    expect(run(['import', 'contact', jsonl, '--delimiter', ';'])).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--delimiter applies to .csv files only'),
    });
  });

  it('passes --concurrency and --commit-every to the run, and refuses values out of range', async () => {
    // Each contact records the connection and the transaction that wrote it.
    await sql.query('CREATE TABLE IF NOT EXISTS contacts (email text PRIMARY KEY, name text)');
    await sql.query(
      `ALTER TABLE contacts ADD COLUMN IF NOT EXISTS backend int DEFAULT pg_backend_pid(),
         ADD COLUMN IF NOT EXISTS tx xid8 DEFAULT pg_current_xact_id()`,
    );
    const written = async (prefix: string) =>
      (
        await sql.query<{ backends: number; transactions: number; n: number }>(
          `SELECT count(DISTINCT backend)::int AS backends, count(DISTINCT tx)::int AS transactions,
             count(*)::int AS n FROM contacts WHERE email LIKE $1`,
          [`${prefix}%`],
        )
      ).rows[0];
    const rows = (prefix: string, count: number) =>
      `email,name\n${Array.from({ length: count }, (_, i) => `${prefix}${i}@x.com,N`).join('\n')}\n`;

    const chunked = join(dir, 'chunked.csv');
    writeFileSync(chunked, rows('chunk', 20));
    const byChunks = runWithModule('import', 'contact', chunked, '--commit-every', '10');
    expect(byChunks.status).toBe(0);
    expect(await written('chunk')).toEqual({ backends: 1, transactions: 2, n: 20 });

    const parallel = join(dir, 'parallel.csv');
    writeFileSync(parallel, rows('lane', 40));
    const byLanes = runWithModule('import', 'contact', parallel, '--concurrency', '4');
    expect(byLanes.status).toBe(0);
    const lanes = await written('lane');
    expect(lanes).toMatchObject({ transactions: 40, n: 40 });
    expect(lanes.backends).toBeGreaterThan(1);

    for (const [option, value, range] of [
      ['--concurrency', '0', '1 to 64'],
      ['--concurrency', '65', '1 to 64'],
      ['--concurrency', '2.5', '1 to 64'],
      ['--commit-every', 'x', '1 to 10000'],
      ['--commit-every', '10001', '1 to 10000'],
    ]) {
      const before = await batchCount();
      const refused = runWithModule('import', 'contact', parallel, option, value);
      expect(refused).toMatchObject({ status: 2, stderr: expect.stringContaining(range) });
      expect(await batchCount()).toBe(before);
    }
  });

  it('lists skipped rows in failures with their status, and exits 0 as every read-only command does', () => {
    const file = join(dir, 'skipping.csv');
    writeFileSync(file, 'email,name\ns1@x.com,skip\nbad,B\ns3@x.com,C\n');
    const imported = runWithModule('--json', 'import', 'contact', file);
    expect(imported.status).toBe(1);
    const { batchId } = JSON.parse(imported.stdout) as { batchId: string };

    expect(failuresOf(batchId)).toEqual([
      expect.objectContaining({
        itemIndex: 0,
        line: 2,
        status: 'skipped',
        reasons: ['asked to skip'],
      }),
      expect.objectContaining({
        itemIndex: 1,
        line: 3,
        status: 'failed',
        reasons: ['email is malformed'],
      }),
    ]);
    expect(run(['failures', batchId]).stdout).toMatch(/^2\s+\S+\s+skipped\s+asked to skip/m);
    for (const command of ['show', 'logs']) expect(run([command, batchId]).status).toBe(0);
    expect(run(['list']).status).toBe(0);
  });

  it('says which module to reprocess with after correct', () => {
    const file = join(dir, 'to-correct.csv');
    writeFileSync(file, 'email,name\nfix-me,A\n');
    const { stdout } = runWithModule('--json', 'import', 'contact', file);
    const { batchId } = JSON.parse(stdout) as { batchId: string };
    const [failure] = failuresOf(batchId);
    const corrected = runWithModule('correct', failure.itemId, '{"email":"fixed@x.com"}');
    expect(corrected.stdout).toContain(
      `run "reliable-imports --module ${USER_MODULE} reprocess ${batchId}"`,
    );
    // The same from RELIABLE_IMPORTS_MODULE, which the next command may not have.
    const fromEnv = run(['correct', failure.itemId, '{"email":"fixed@x.com"}'], {
      RELIABLE_IMPORTS_MODULE: USER_MODULE,
    });
    expect(fromEnv.stdout).toContain(`--module ${USER_MODULE} reprocess ${batchId}`);
  });

  it('prints errors as JSON with --json: usage, commander, module and connection errors, each with its exit status', () => {
    const errorOf = (result: CliRun) => {
      expect(result.stderr).toBe('');
      return (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
    };
    const unknownOption = run(['--json', 'list', '--bogus']);
    expect(unknownOption.status).toBe(2);
    expect(errorOf(unknownOption)).toEqual({ code: 'USAGE', message: "unknown option '--bogus'" });

    const unknownCommand = run(['--json', 'bogus']);
    expect(unknownCommand.status).toBe(2);
    expect(errorOf(unknownCommand)).toMatchObject({ code: 'USAGE' });

    const badValue = run(['list', '--limit', '0', '--json']);
    expect(badValue.status).toBe(2);
    expect(errorOf(badValue).message).toContain('give a whole number from 1 to 1000');

    const missingFile = run(['--json', 'import', 'contact', join(dir, 'nope.csv')]);
    expect(missingFile.status).toBe(2);
    expect(errorOf(missingFile)).toMatchObject({ code: 'USAGE' });

    const wrongId = run(['--json', 'show', '6f1d3c1e-0000-4000-8000-000000000000']);
    expect(wrongId.status).toBe(2);
    expect(errorOf(wrongId)).toMatchObject({ code: 'BATCH_NOT_FOUND' });

    const noModule = run(['--json', 'import', 'contact', join(dir, 'contacts.csv')]);
    expect(noModule.status).toBe(2);
    expect(errorOf(noModule)).toMatchObject({
      code: 'UNKNOWN_BATCH_TYPE',
      hint: expect.stringContaining('--module dist/imports.module.js#ImportsModule'),
    });

    // A server that refuses may be restarting: try again (3). A URL naming what does not exist: fix it (2).
    const refused = run(['--json', 'list'], {
      DATABASE_URL: 'postgres://root@127.0.0.1:1/nowhere',
    });
    expect(refused.status).toBe(3);
    expect(errorOf(refused)).toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      message: expect.stringContaining('run the same command again'),
    });
    const wrongDatabase = new URL(db.url);
    wrongDatabase.pathname = '/no_such_database_for_cli_tests';
    const misconfigured = run(['--json', 'list'], { DATABASE_URL: wrongDatabase.toString() });
    expect(misconfigured.status).toBe(2);
    expect(errorOf(misconfigured)).toMatchObject({
      code: 'DATABASE_CONFIG',
      message: expect.stringContaining('Check DATABASE_URL'),
    });
  });

  it('exits 3 when the database goes away during an import; nothing is lost and "process" finishes the batch', async () => {
    const file = join(dir, 'outage.csv');
    writeFileSync(file, 'email,name\nout1@x.com,A\nout2@x.com,hold\nout3@x.com,C\n');
    const lock = new Client({ connectionString: db.url });
    await lock.connect();
    const proxy = await databaseProxy(db.url);
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [HOLD_LOCK]);
      let cut = false;
      const interrupted = await startCli(
        ['--module', USER_MODULE, '--json', 'import', 'contact', file],
        { env: { DATABASE_URL: proxy.url } },
        (stderr) => {
          // The "hold" row is in flight, its transaction open: the server goes away now.
          if (!cut && stderr.includes('fixture: holding out2@x.com')) {
            cut = true;
            proxy.cut();
          }
        },
      );
      expect(interrupted.status).toBe(3);
      const { error } = JSON.parse(interrupted.stdout) as {
        error: { code: string; message: string; hint: string };
      };
      expect(error.code).toBe('PROCESSING_INTERRUPTED');
      const batchId = /batch "([0-9a-f-]{36})"/.exec(error.message)?.[1] as string;
      expect(error.hint).toBe(
        `Nothing is lost: run "reliable-imports --module ${USER_MODULE} process ${batchId}" to go on where it stopped.`,
      );
      // Not failed: the first row is in, the others wait for the next run.
      const shown = run(['--json', 'show', batchId]);
      expect(shown.status).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        status: 'processing',
        completedItems: 1,
        failedItems: 0,
      });
    } finally {
      await lock.end();
      proxy.cut();
    }
    const batchId = (
      await sql.query<{ id: string }>(
        `SELECT batch_id AS id FROM import_batch_items WHERE source_data->>'email' = 'out2@x.com'`,
      )
    ).rows[0].id;
    // The claim the cut run held lapses with its lease; here the lease is let run out at once.
    await sql.query(
      `UPDATE import_batch_items SET locked_until = now() - interval '1 second'
        WHERE batch_id = $1 AND status = 'processing'`,
      [batchId],
    );
    await sql.query(
      `UPDATE import_batches SET locked_until = now() - interval '1 second' WHERE id = $1`,
      [batchId],
    );
    const finished = runWithModule('--json', 'process', batchId);
    expect(finished.status).toBe(0);
    expect(JSON.parse(finished.stdout)).toMatchObject({
      status: 'completed',
      completedItems: 3,
      failedItems: 0,
    });
  });

  it('stops on SIGTERM with exit 3, the rows in flight given back, and "process" goes on at once', async () => {
    const file = join(dir, 'stopped.csv');
    writeFileSync(file, 'email,name\nstop1@x.com,A\nstop2@x.com,hold\nstop3@x.com,C\n');
    const lock = new Client({ connectionString: db.url });
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [HOLD_LOCK]);
      const steps = new Set<string>();
      const stopped = await startCli(
        ['--module', USER_MODULE, '--json', 'import', 'contact', file],
        { env: { DATABASE_URL: db.url } },
        (stderr, signal) => {
          if (!steps.has('signal') && stderr.includes('fixture: holding stop2@x.com')) {
            steps.add('signal');
            signal('SIGTERM');
          }
          // The stop has begun: let the row in flight go on, so that the stop can end.
          if (!steps.has('release') && stderr.includes('SIGTERM: stopping')) {
            steps.add('release');
            void lock.query('SELECT pg_advisory_unlock($1)', [HOLD_LOCK]);
          }
        },
      );
      expect(stopped.status).toBe(3);
      const { error } = JSON.parse(stopped.stdout) as { error: { code: string; hint: string } };
      expect(error.code).toBe('PROCESSING_STOPPED');
      const batchId = /process ([0-9a-f-]{36})/.exec(error.hint)?.[1] as string;
      expect(JSON.parse(run(['--json', 'show', batchId]).stdout)).toMatchObject({
        status: 'processing',
        failedItems: 0,
        processingItems: 0,
      });
      // Nothing held: the next run needs no lease to run out.
      const finished = runWithModule('--json', 'process', batchId);
      expect(finished.status).toBe(0);
      expect(JSON.parse(finished.stdout)).toMatchObject({ status: 'completed', completedItems: 3 });
    } finally {
      await lock.end();
    }
  });

  it('creates the embedded database with its parent directories in a fresh directory', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'reliable-imports-fresh-'));
    const inFresh = (args: string[]) =>
      runCli(args, {
        cwd: fresh,
        env: { DATABASE_URL: undefined },
        typescript: false,
        timeoutMs: 120_000,
      });
    expect(inFresh(['migrate'])).toMatchObject({
      status: 0,
      stderr: '',
      stdout: expect.stringContaining('Ran CreateReliableImportsSchema'),
    });
    expect(existsSync(join(fresh, '.reliable-imports', 'pglite'))).toBe(true);
    expect(inFresh(['list'])).toMatchObject({ status: 0, stdout: '(none)\n', stderr: '' });
  });
});
