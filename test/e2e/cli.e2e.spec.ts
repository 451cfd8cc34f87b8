import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('the reliable-imports command-line tool (built binary, real PostgreSQL)', () => {
  let db: TestDatabase;
  let dir: string;
  let run: (args: string[], env?: Record<string, string | undefined>) => ReturnType<typeof cli>;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-'));
    run = (args, env = {}) => cli(args, { DATABASE_URL: db.url, ...env });
  });
  afterAll(async () => {
    await db?.drop();
  });

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
    expect(nothingLeft.stderr).toContain('Pass --all to run every item again');
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
