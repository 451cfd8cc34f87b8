import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'src', 'cli.js');
const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

/** Runs the built binary; the user module is TypeScript, so it is loaded through @swc-node/register. */
function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const result = spawnSync(process.execPath, ['-r', '@swc-node/register', BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      SWC_NODE_PROJECT: 'test/fixtures/cli/swc.tsconfig.json',
      ...env,
    },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('the reliable-imports command-line tool (built binary, real PostgreSQL)', () => {
  let db: TestDatabase;
  let dir: string;
  let sql: Client;
  let run: (args: string[], env?: Record<string, string | undefined>) => ReturnType<typeof cli>;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-'));
    run = (args, env = {}) => cli(args, { DATABASE_URL: db.url, ...env });
    sql = new Client({ connectionString: db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  const batchCount = async () =>
    Number((await sql.query('SELECT count(*) AS n FROM import_batches')).rows[0].n);

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
    const result = run(['--module', USER_MODULE, 'import', 'contact', file]);
    expect(result.stderr).toMatch(message);
    expect(result.status).toBe(2);
    expect(await batchCount()).toBe(before);
    return result;
  }

  it('prints its help', () => {
    const { status, stdout } = run(['--help']);
    expect(status).toBe(0);
    for (const command of [
      'migrate',
      'import',
      'list',
      'show',
      'failures',
      'logs',
      'correct',
      'reprocess',
    ]) {
      expect(stdout).toContain(command);
    }
  });

  it('says to run migrate first when the tables do not exist', () => {
    const { status, stderr } = run(['list']);
    expect(status).toBe(2);
    expect(stderr).toContain('run "reliable-imports migrate" first');
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

  it('imports a CSV with a malformed line (reported with its number, the rest imported), then corrects and reprocesses', () => {
    const file = join(dir, 'contacts.csv');
    writeFileSync(file, 'email,name\na@x.com,A\nbad-email,B\nc@x.com,C,extra\nd@x.com,D\n');
    const imported = run(['--module', USER_MODULE, '--json', 'import', 'contact', file]);
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(1);
    const summary = JSON.parse(imported.stdout) as {
      batchId: string;
      completedItems: number;
      failedItems: number;
      skippedLines: Array<{ line: number; reason: string }>;
    };
    expect(summary).toMatchObject({ completedItems: 2, failedItems: 1 });
    expect(summary.skippedLines).toEqual([{ line: 4, reason: expect.stringMatching(/line 4/) }]);

    const text = run(['--module', USER_MODULE, 'import', 'contact', file]);
    expect(text.stdout).toContain('line 4 was not imported');
    expect(text.stdout).toMatch(/completed\s+2/);

    const shown = run(['show', summary.batchId]);
    expect(shown.status).toBe(1);
    expect(shown.stdout).toMatch(/status\s+completed_with_errors/);

    const listed = run(['list', '--status', 'completed_with_errors', '--type', 'contact']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(summary.batchId);
    expect(run(['list', '--status', 'nonsense']).status).toBe(2);

    const failures = run(['--json', 'failures', summary.batchId]);
    expect(failures.status).toBe(1);
    const [failure] = JSON.parse(failures.stdout) as Array<{
      item: string;
      reason: string;
      index: number;
    }>;
    expect(failure).toMatchObject({ reason: 'email is malformed', index: 1 });
    expect(run(['failures', summary.batchId]).stdout).toContain('email is malformed');

    expect(run(['correct', failure.item, 'not json']).status).toBe(2);
    const corrected = run(['correct', failure.item, '{"email":"b@x.com","name":"B"}']);
    expect(corrected).toMatchObject({ status: 0, stdout: expect.stringContaining('reprocess') });

    const logs = run(['logs', summary.batchId]);
    expect(logs.status).toBe(0);
    expect(logs.stdout).toContain('Item 1 corrected');

    const reprocessed = run(['--module', USER_MODULE, '--json', 'reprocess', summary.batchId]);
    expect(reprocessed.status).toBe(0);
    expect(JSON.parse(reprocessed.stdout)).toMatchObject({
      status: 'completed',
      completedItems: 1,
      parentBatchId: summary.batchId,
    });

    const nothingLeft = run(['--module', USER_MODULE, 'reprocess', summary.batchId]);
    expect(nothingLeft.status).toBe(2);
    expect(nothingLeft.stderr).toContain('has no rows left to reprocess');
  });

  it('refuses a CSV with an unclosed quote, which would swallow the rest of the file, and stores nothing', () => {
    const file = join(dir, 'unclosed.csv');
    writeFileSync(file, 'email,name\nq1@x.com,A\n"q2@x.com,B\nq3@x.com,C\n');
    const before = run(['--json', 'list']).stdout;
    const { status, stderr } = run(['--module', USER_MODULE, 'import', 'contact', file]);
    expect(status).toBe(2);
    expect(stderr).toContain('Quote Not Closed');
    expect(stderr).toContain('Nothing was imported; fix the quote');
    expect(run(['--json', 'list']).stdout).toBe(before);
  });

  it('imports JSON lines, skipping the malformed ones', () => {
    const file = join(dir, 'contacts.jsonl');
    writeFileSync(file, '{"email":"e@x.com"}\n{oops\n[1]\n{"email":"f@x.com"}\n');
    const { status, stdout } = run(['--module', USER_MODULE, '--json', 'import', 'contact', file]);
    expect(status).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      completedItems: 2,
      skippedLines: [
        { line: 2, reason: expect.stringMatching(/invalid JSON/) },
        { line: 3, reason: 'the line is not a JSON object' },
      ],
    });
  });

  it('refuses a CSV whose header names a column twice, instead of keeping only the last one', async () => {
    await expectRefused(
      'duplicate-header.csv',
      'email,name,Name, name\ndup@x.com,A,B,C\n',
      /line 1: the column "name" is named twice \(columns 2 and 4\)/,
    );
    // Blank lines before the header do not shift the line reported.
    await expectRefused(
      'duplicate-header-late.csv',
      '\n\nemail,email\ndup@x.com,dup2@x.com\n',
      /line 3: the column "email" is named twice/,
    );
    // In JSON lines, a key given twice with two values is a malformed line, reported by its number.
    const file = join(dir, 'duplicate-key.jsonl');
    writeFileSync(file, '{"email":"k1@x.com"}\n{"email":"k2@x.com","email":"k3@x.com"}\n');
    const { status, stdout } = run(['--module', USER_MODULE, '--json', 'import', 'contact', file]);
    expect(status).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      totalItems: 1,
      skippedLines: [{ line: 2, reason: expect.stringContaining("Duplicate key 'email'") }],
    });
  });

  it('keeps every digit of JSONL numbers, in import and in correct', async () => {
    const file = join(dir, 'numbers.jsonl');
    writeFileSync(
      file,
      '{"email":"n1@x.com","big":12345678901234567891,"precise":0.1000000000000000055511151231257827,' +
        '"safe":9007199254740991,"tenth":0.1,"negative":-12.5,"exponent":1e3,"nested":{"ids":[12345678901234567891,7]}}\n' +
        '{"email":"bad-number","big":98765432109876543210}\n',
    );
    const imported = run(['--module', USER_MODULE, '--json', 'import', 'contact', file]);
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

  it('reports a row holding a NUL character by its line, and imports the other rows', () => {
    const jsonl = join(dir, 'nul.jsonl');
    writeFileSync(
      jsonl,
      '{"email":"z1@x.com"}\n{"email":"z2@x.com","name":"A\\u0000B"}\n{"email":"z3@x.com"}\n',
    );
    const fromJsonl = run(['--module', USER_MODULE, '--json', 'import', 'contact', jsonl]);
    expect(fromJsonl.stderr).toBe('');
    expect(fromJsonl.status).toBe(1);
    expect(JSON.parse(fromJsonl.stdout)).toMatchObject({
      totalItems: 2,
      completedItems: 2,
      skippedLines: [
        { line: 2, reason: expect.stringContaining('row.name contains the character \\u0000') },
      ],
    });

    const csv = join(dir, 'nul.csv');
    writeFileSync(csv, 'email,name\nz4@x.com,A\nz5@x.com,B\u0000C\nz6@x.com,C\n');
    const fromCsv = run(['--module', USER_MODULE, 'import', 'contact', csv]);
    expect(fromCsv.stderr).toBe('');
    expect(fromCsv.status).toBe(1);
    expect(fromCsv.stdout).toMatch(/completed\s+2/);
    expect(fromCsv.stdout).toContain(
      'line 3 was not imported: row.name contains the character \\u0000',
    );
  });

  it('strips a byte order mark at the start of a JSONL file instead of losing line 1', () => {
    const file = join(dir, 'bom.jsonl');
    writeFileSync(file, '\uFEFF{"email":"bom1@x.com"}\n{"email":"bom2@x.com"}\n');
    const { status, stdout } = run(['--module', USER_MODULE, '--json', 'import', 'contact', file]);
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ completedItems: 2, skippedLines: [] });
  });

  it('refuses a file with no rows (empty, header only, only blank or skipped lines) and stores nothing', async () => {
    await expectRefused('empty.csv', '', /empty\.csv has no rows to import/);
    await expectRefused(
      'header-only.csv',
      '\uFEFFemail,name\r\n',
      /header-only\.csv has no rows to import/,
    );
    await expectRefused('empty.jsonl', '\n\n', /empty\.jsonl has no rows to import/);
    const skipped = await expectRefused(
      'all-bad.jsonl',
      '{oops\n[1]\n',
      /all-bad\.jsonl has no rows to import/,
    );
    expect(skipped.stderr).toContain('line 2: the line is not a JSON object');
  });

  it('answers mistakes with exit status 2 and a message that says what to do', () => {
    const wrongId = run(['show', '6f1d3c1e-0000-4000-8000-000000000000']);
    expect(wrongId).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('does not exist. Check the id'),
    });

    const missing = run(['--module', USER_MODULE, 'import', 'contact', join(dir, 'nope.csv')]);
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
      status: 2,
      stderr: expect.stringContaining('Cannot connect to the database'),
    });
    expect(noDatabase.stderr).toContain('Check DATABASE_URL');
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
});
