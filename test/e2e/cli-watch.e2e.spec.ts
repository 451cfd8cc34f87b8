import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { HOLD_LOCK } from '../fixtures/cli/cli-imports.module';
import { runCli, startCli, type CliRun } from '../support/built-cli';
import { useTestDatabase } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

/** A line of `watch` where stderr is no terminal: "<id> 42.0% 3/7 rows | processing | ...". */
const WATCH_LINE =
  /^([0-9a-f-]{36}) (\d+\.\d)% (\d+)\/(\d+) rows \| (\w+) \| (\d+) failed, (\d+) skipped, (\d+) in flight \| (\S+) rows\/s \| ETA (.+)$/;

// Each test starts the tool a few times, each a Node process of its own: slow on a busy machine.
jest.setTimeout(180_000);

describe('reliable-imports watch (built binary, real PostgreSQL)', () => {
  const file = useTestDatabase();
  let dir: string;
  let sql: Client;
  let url: string;

  beforeAll(async () => {
    url = file.db.url;
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-watch-'));
    sql = await file.connect();
  });

  /** Starts `import` of `rows` (CSV lines) in a process of its own, holding at its "hold" row. */
  async function importHeld(name: string, rows: string[]) {
    const path = join(dir, `${name}.csv`);
    writeFileSync(path, ['email,name', ...rows, ''].join('\n'));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const importing = startCli(
      ['--module', USER_MODULE, '--json', 'import', 'contact', path],
      { env: { DATABASE_URL: url } },
      (stderr) => {
        if (stderr.includes('fixture: holding')) held();
      },
    );
    await holding;
    const { rows: found } = await sql.query<{ id: string }>(
      `SELECT id FROM import_batches WHERE source_info->>'file' = $1`,
      [path],
    );
    return { batchId: found[0].id, importing };
  }

  it('follows a batch another process runs, and exits with the status of its outcome', async () => {
    await sql.query('SELECT pg_advisory_lock($1)', [HOLD_LOCK]);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await sql.query('SELECT pg_advisory_unlock($1)', [HOLD_LOCK]);
    };
    try {
      const { batchId, importing } = await importHeld('held', [
        'w1@x.com,A',
        'w2@x.com,B',
        'bad-email,C',
        'w4@x.com,skip',
        'w5@x.com,hold',
        'w6@x.com,F',
        'w7@x.com,G',
      ]);
      const lines: string[][] = [];
      const watching = startCli(
        ['--json', 'watch', batchId, '--interval', '100'],
        { env: { DATABASE_URL: url } },
        (stderr) => {
          const all = stderr.split('\n').flatMap((line) => WATCH_LINE.exec(line)?.slice(1) ?? []);
          lines.length = 0;
          for (let i = 0; i < all.length; i += 10) lines.push(all.slice(i, i + 10));
          // The first line shows the held run: then the run may go on.
          if (lines.length > 0) void release();
        },
      );
      const [watched, imported] = await Promise.all([watching, importing]);
      expect(imported.status).toBe(1);
      expect(watched.status).toBe(1);
      // The first reading: 4 rows done (one failed, one skipped), the held one in flight (with the rows
      // its claim took after it).
      expect(lines[0]).toEqual([
        batchId,
        '57.1',
        '4',
        '7',
        'processing',
        '1',
        '1',
        expect.stringMatching(/^[1-3]$/),
        expect.any(String),
        expect.any(String),
      ]);
      // The last: the batch ended, nothing left, no ETA.
      expect(lines[lines.length - 1]).toEqual([
        batchId,
        '100.0',
        '7',
        '7',
        'completed_with_errors',
        '1',
        '1',
        '0',
        expect.any(String),
        '-',
      ]);
      expect(JSON.parse(watched.stdout)).toMatchObject({
        batchId,
        status: 'completed_with_errors',
        completedItems: 5,
        failedItems: 1,
        skippedItems: 1,
      });
    } finally {
      await release();
    }
  });

  it('exits 0 for a batch whose rows all completed, at once when it has ended already', () => {
    const path = join(dir, 'fine.csv');
    writeFileSync(path, 'email,name\nf1@x.com,A\nf2@x.com,B\n');
    const imported = runCli(['--module', USER_MODULE, '--json', 'import', 'contact', path], {
      env: { DATABASE_URL: url },
    });
    expect(imported.status).toBe(0);
    const { batchId } = JSON.parse(imported.stdout) as { batchId: string };
    const watched = runCli(['watch', batchId], { env: { DATABASE_URL: url } });
    expect(watched.status).toBe(0);
    expect(watched.stderr).toMatch(new RegExp(`^${batchId} 100\\.0% 2/2 rows \\| completed \\|`));
    expect(watched.stdout).toMatch(/status\s+completed/);
  });

  it('exits 3 when stopped before the batch ends, and leaves the batch to its run', async () => {
    const { rows } = await sql.query<{ id: string }>(
      `INSERT INTO import_batches (batch_type, total_items) VALUES ('contact', 0) RETURNING id`,
    );
    const batchId = rows[0].id;
    let signalled = false;
    const stopped: CliRun = await startCli(
      ['watch', batchId, '--interval', '60000'],
      { env: { DATABASE_URL: url } },
      (stderr, signal) => {
        if (!signalled && WATCH_LINE.test(stderr.split('\n')[0])) {
          signalled = true;
          signal('SIGINT');
        }
      },
    );
    expect(stopped.status).toBe(3);
    expect(stopped.stderr).toContain(`Stopped watching batch ${batchId}`);
    const { rows: after } = await sql.query<{ status: string }>(
      'SELECT status FROM import_batches WHERE id = $1',
      [batchId],
    );
    expect(after[0].status).toBe('pending');
  });

  it('refuses a batch that does not exist, and a bad interval', () => {
    const unknown = runCli(['--json', 'watch', '6f1d3c1e-0000-4000-8000-000000000000'], {
      env: { DATABASE_URL: url },
    });
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'BATCH_NOT_FOUND' } });
    const badInterval = runCli(
      ['watch', '6f1d3c1e-0000-4000-8000-000000000000', '--interval', '5'],
      {
        env: { DATABASE_URL: url },
      },
    );
    expect(badInterval.status).toBe(2);
  });
});
