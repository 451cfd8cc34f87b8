import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { runCli, type CliRun } from '../support/built-cli';
import { useTestDatabase } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';
const RETENTION_MODULE = 'test/fixtures/cli/retention-imports.module.ts#RetentionImportsModule';

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('prune (built binary, real PostgreSQL)', () => {
  const file = useTestDatabase({ empty: true });
  let dir: string;
  let sql: Client;
  let run: (...args: string[]) => CliRun;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-prune-'));
    run = (...args) =>
      runCli(['--module', USER_MODULE, ...args], { env: { DATABASE_URL: file.db.url } });
    sql = await file.connect();
    expect(run('migrate').status).toBe(0);
  });

  const csv = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const batchIdOf = (output: string): string => {
    const found = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(output);
    if (!found) throw new Error(`No batch id in: ${output}`);
    return found[0];
  };
  const imported = (name: string, content: string, days: number): Promise<string> => {
    const result = run('import', 'contact', csv(name, content));
    const batchId = batchIdOf(result.stdout);
    return sql
      .query(
        `UPDATE import_batches SET created_at = now() - make_interval(days => $2),
           completed_at = now() - make_interval(days => $2) WHERE id = $1`,
        [batchId, days],
      )
      .then(() => batchId);
  };
  const remaining = async (): Promise<string[]> =>
    (await sql.query<{ id: string }>('SELECT id FROM import_batches ORDER BY created_at')).rows.map(
      (row) => row.id,
    );

  it('dry-runs, then removes old trees in slices, keeps the unresolved one, and says how to remove it', async () => {
    const first = await imported('a.csv', 'email,name\na@example.com,A\nb@example.com,B\n', 40);
    const second = await imported('b.csv', 'email,name\nc@example.com,C\n', 40);
    const unresolved = await imported('c.csv', 'email,name\nd@example.com,D\nnot-an-email,E\n', 40);
    const recent = await imported('d.csv', 'email,name\ne@example.com,E\n', 1);

    const dry = run('--json', 'prune', '--older-than', '30', '--dry-run', '--slice-size', '1');
    expect(dry.status).toBe(0);
    const dryReport = JSON.parse(dry.stdout) as Record<string, unknown>;
    expect(dryReport).toMatchObject({
      dryRun: true,
      trees: 2,
      batches: 2,
      items: 3,
      slices: 3,
      kept: { unresolved: 1 },
    });
    expect(await remaining()).toHaveLength(4);

    const real = run('prune', '--older-than', '30', '--slice-size', '1');
    expect(real.status).toBe(0);
    expect(real.stdout).toMatch(/^batches +2 \(completed 2\)$/m);
    expect(real.stdout).toMatch(/^rows +3$/m);
    expect(real.stdout).toContain('Removed 2 batch(es) with their rows, logs and progress rows.');
    expect(real.stdout).toContain(
      'Kept 1 old tree(s) with rows that never completed: export and reprocess them, or add --include-unresolved',
    );
    expect(await remaining()).toEqual([unresolved, recent]);
    expect([first, second]).not.toContain(unresolved);

    const forced = run(
      'prune',
      '--older-than',
      '30',
      '--status',
      'completed_with_errors',
      '--type',
      'contact',
      '--include-unresolved',
    );
    expect(forced.status).toBe(0);
    expect(forced.stdout).toMatch(/^batches +1 \(completed_with_errors 1\)$/m);
    expect(await remaining()).toEqual([recent]);
  });

  it('refuses a status that may still run, and a prune with nothing to go by', () => {
    const running = run('prune', '--older-than', '1', '--status', 'processing');
    expect(running.status).toBe(2);
    expect(running.stderr).toContain('Allowed choices are completed, completed_with_errors');

    // The fixture's processors declare no retention: without --older-than there is nothing to apply.
    const bare = run('prune');
    expect(bare.status).toBe(2);
    expect(bare.stderr).toContain('Give --older-than DAYS');
    const filtered = run('prune', '--status', 'completed');
    expect(filtered.status).toBe(2);
    expect(filtered.stderr).toContain('Give --older-than DAYS');
  });

  it("without --older-than, applies the retention the module's processors declare", async () => {
    const retentionRun = (...args: string[]) =>
      runCli(['--module', RETENTION_MODULE, ...args], { env: { DATABASE_URL: file.db.url } });
    const ran = (name: string, content: string): string =>
      batchIdOf(retentionRun('import', 'note', csv(name, content)).stdout);
    const old = ran('n1.csv', 'text\nhello\n');
    const kept = ran('n2.csv', 'text\nworld\n');
    await sql.query(
      `UPDATE import_batches SET created_at = now() - interval '40 days',
         completed_at = now() - interval '40 days' WHERE id = $1`,
      [old],
    );
    await sql.query(
      `UPDATE import_logs SET created_at = now() - interval '20 days' WHERE batch_id = $1`,
      [kept],
    );
    const logsOfKept = (
      await sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM import_logs WHERE batch_id = $1',
        [kept],
      )
    ).rows[0].n;
    expect(logsOfKept).toBeGreaterThan(0);

    const dry = retentionRun('--json', 'prune', '--dry-run');
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      ran: true,
      policies: 1,
      batches: { batches: 1 },
      logs: { logs: logsOfKept },
    });

    const real = retentionRun('prune');
    expect(real.status).toBe(0);
    expect(real.stdout).toContain(
      `Removed 1 batch(es) with their rows, logs and progress rows, and ${logsOfKept} old log entr(ies) of the batches kept.`,
    );
    const left = await sql.query<{ id: string }>(
      `SELECT id FROM import_batches WHERE batch_type = 'note'`,
    );
    expect(left.rows.map((row) => row.id)).toEqual([kept]);
  });
});
