import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { runCli, type CliRun } from '../support/built-cli';
import { useTestDatabase } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';
const MARKER = 'zz-cli-personal-91c2';

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('scrub (built binary, real PostgreSQL)', () => {
  const file = useTestDatabase({ empty: true });
  let dir: string;
  let sql: Client;
  let run: (...args: string[]) => CliRun;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-cli-scrub-'));
    run = (...args) =>
      runCli(['--module', USER_MODULE, ...args], { env: { DATABASE_URL: file.db.url } });
    sql = await file.connect();
    expect(run('migrate').status).toBe(0);
  });

  const imported = async (name: string, content: string, days: number): Promise<string> => {
    const path = join(dir, name);
    writeFileSync(path, content);
    const result = run('import', 'contact', path);
    const found = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(
      result.stdout,
    );
    if (!found) throw new Error(`No batch id in: ${result.stdout}${result.stderr}`);
    await sql.query(
      `UPDATE import_batches SET created_at = now() - make_interval(days => $2),
         completed_at = now() - make_interval(days => $2) WHERE id = $1`,
      [found[0], days],
    );
    return found[0];
  };
  const rowsWithMarker = async (): Promise<number> =>
    (
      await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM import_batch_items i WHERE i::text LIKE '%' || $1 || '%'`,
        [MARKER],
      )
    ).rows[0].n;

  it('refuses to guess: without --older-than, the processors must declare a scrub', () => {
    const bare = run('scrub');
    expect(bare.status).toBe(2);
    expect(bare.stderr).toContain('Give --older-than DAYS');
  });

  it('dry-runs, scrubs the completed rows, keeps the unresolved one unless told, then refuses its reprocess', async () => {
    const batchId = await imported(
      'a.csv',
      `email,name\n${MARKER}-a@example.com,A\nnot-an-email,${MARKER} B\n`,
      40,
    );
    const dry = run('--json', 'scrub', '--older-than', '30', '--dry-run');
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, trees: 1, rows: 1 });
    expect(await rowsWithMarker()).toBe(2);

    const real = run('scrub', '--older-than', '30');
    expect(real.status).toBe(0);
    expect(real.stdout).toMatch(/^rows +1$/m);
    expect(real.stdout).toContain('Removed the personal data of 1 row(s)');
    expect(await rowsWithMarker()).toBe(1);

    expect(run('scrub', '--older-than', '30', '--include-unresolved').status).toBe(0);
    expect(await rowsWithMarker()).toBe(0);
    const reprocess = run('reprocess', batchId);
    expect(reprocess.status).not.toBe(0);
    expect(reprocess.stderr).toContain(`row 1 (line 3) of batch ${batchId}`);
    expect(reprocess.stderr).toContain('Import the row again from its source file');
  });
});
