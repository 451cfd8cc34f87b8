import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { runCli, type CliRun } from '../support/built-cli';
import { useTestDatabase } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('approve, reject, import --require-approval and --dry-run (built binary, real PostgreSQL)', () => {
  const file = useTestDatabase({ empty: true });
  let dir: string;
  let sql: Client;
  let run: (...args: string[]) => CliRun;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-approval-'));
    run = (...args) =>
      runCli(['--module', USER_MODULE, ...args], { env: { DATABASE_URL: file.db.url } });
    sql = await file.connect();
    expect(run('migrate').status).toBe(0);
    // The fixture's processor creates its table in a row's transaction: made here, so that a dry run
    // (which rolls that back) finds it; the processor upserts by e-mail, so a taken name is what violates
    // a unique constraint.
    await sql.query('CREATE TABLE contacts (email text PRIMARY KEY, name text UNIQUE)');
    await sql.query(`INSERT INTO contacts VALUES ('old@example.com', 'Taken')`);
  });

  const csv = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const contacts = async () =>
    (await sql.query<{ email: string }>('SELECT email FROM contacts ORDER BY email')).rows;
  const statuses = async (batchId: string) =>
    (
      await sql.query<{ status: string; attempts: number }>(
        'SELECT status, attempts FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index',
        [batchId],
      )
    ).rows;

  it('dry-runs a file: says which lines would fail and why, applies nothing, and says how to approve', async () => {
    const path = csv(
      'dry.csv',
      'email,name\nnew@example.com,New\ndup@example.com,Taken\nnot-an-email,Bad\nskip@example.com,skip\n',
    );
    const before = await contacts();
    const dry = run('import', 'contact', path, '--dry-run');
    expect(dry.status).toBe(1);
    expect(dry.stdout).toContain(
      'rolled back: nothing was applied. Of 4 row(s), 1 would complete, 2 would fail, 1 would be skipped.',
    );
    expect(dry.stdout).toMatch(/^3 +\S+ +23505 +duplicate key value violates unique constraint/m);
    expect(dry.stdout).toMatch(/^4 +\S+ +VALIDATION_FAILED +email is malformed/m);
    const approve = /reliable-imports --module \S+ approve ([0-9a-f-]{36})/.exec(dry.stdout);
    expect(approve).not.toBeNull();
    expect(dry.stdout).toContain(`reject ${approve![1]} --reason 'the file is wrong'`);
    const batchId = approve![1];
    expect(await contacts()).toEqual(before);
    expect(await statuses(batchId)).toEqual(
      Array.from({ length: 4 }, () => ({ status: 'pending', attempts: 0 })),
    );

    const json = run(
      '--json',
      'import',
      'contact',
      csv('clean.csv', 'email,name\nok@example.com,Ok\n'),
      '--dry-run',
    );
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'awaiting_approval',
      dryRun: { total: 1, wouldComplete: 1, wouldFail: 0, failures: [] },
    });

    const approved = run('approve', batchId);
    expect(approved.status).toBe(0);
    expect(approved.stdout).toContain(`Approved batch ${batchId}`);
    const processed = run('process', batchId);
    expect(processed.status).toBe(1);
    expect(await statuses(batchId)).toEqual([
      { status: 'completed', attempts: 1 },
      { status: 'failed', attempts: 1 },
      { status: 'failed', attempts: 1 },
      { status: 'skipped', attempts: 1 },
    ]);
  });

  it('imports a file awaiting approval, and rejects it with a reason; a second decision is refused', async () => {
    const path = csv('wait.csv', 'email,name\nwait1@example.com,W\nwait2@example.com,W\n');
    const waiting = run('--json', 'import', 'contact', path, '--require-approval');
    expect(waiting.status).toBe(0);
    const summary = JSON.parse(waiting.stdout) as { batchId: string; status: string };
    expect(summary.status).toBe('awaiting_approval');
    expect(run('import', 'contact', path, '--require-approval').stdout).toContain(
      'The batch waits for approval: nothing runs it until',
    );

    const rejected = run('reject', summary.batchId, '--reason', 'wrong month\u001b[2J; rm -rf /');
    expect(rejected.status).toBe(0);
    expect(rejected.stdout).toContain(`Rejected batch ${summary.batchId}`);
    expect(await statuses(summary.batchId)).toEqual([
      { status: 'cancelled', attempts: 0 },
      { status: 'cancelled', attempts: 0 },
    ]);
    const { rows } = await sql.query('SELECT error_message FROM import_batches WHERE id = $1', [
      summary.batchId,
    ]);
    expect(rows[0].error_message).toBe('wrong month\u001b[2J; rm -rf /');

    const again = run('--json', 'approve', summary.batchId);
    expect(again.status).toBe(2);
    expect(JSON.parse(again.stdout)).toMatchObject({
      error: {
        code: 'BATCH_STATUS_CONFLICT',
        message: expect.stringContaining('It was rejected'),
      },
    });
    expect(run('reject', summary.batchId).stderr).toContain(
      `error: Cannot reject import batch "${summary.batchId}": it is rejected`,
    );
    expect(await contacts()).not.toContainEqual({ email: 'wait1@example.com' });
  });
});
