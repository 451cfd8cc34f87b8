/**
 * pgbench running the same row transaction as the raw loop (BEGIN, the 11-column upsert `RETURNING id`,
 * the item's status update, COMMIT) with prepared statements, `-n` (no vacuum): the most this server
 * commits of that transaction from a client that does nothing else, the ceiling of the per-row figures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COLUMNS } from './work';

const PGBENCH = process.env.PGBENCH ?? 'pgbench';

/** Null when pgbench can be run, otherwise why not (printed, never a failure). */
export function pgbenchMissing(): string | null {
  const probe = spawnSync(PGBENCH, ['--version'], { encoding: 'utf8' });
  return probe.status === 0
    ? null
    : `${PGBENCH} not found (${probe.error?.message ?? probe.stderr})`;
}

/**
 * The item's status alternates between pending and completed, so that each update changes an indexed
 * column as the real transition does (an update that leaves `status` as it is could be HOT).
 */
const script = (): string => {
  const value = (column: string): string =>
    column === 'email'
      ? `'pgbench' || :e || '@example.com'`
      : column === 'birth_date'
        ? `'1970-01-01'::date + (:e % 15000)`
        : column === 'notes'
          ? `repeat('n', 240)`
          : `'${column} ' || :e`;
  return [
    '\\set i random(0, :n - 1)',
    '\\set e random(1, 2000000000)',
    'BEGIN;',
    `INSERT INTO bench_customers (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(value).join(', ')}) ` +
      `ON CONFLICT (email) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'email')
        .map((c) => `${c} = EXCLUDED.${c}`)
        .join(', ')}, updated_at = now() RETURNING id;`,
    `UPDATE import_batch_items SET status = CASE status WHEN 'pending' THEN 'completed' ELSE 'pending' END, ` +
      `attempts = attempts + 1, started_at = now(), completed_at = now() ` +
      `WHERE batch_id = :batch AND item_index = :i;`,
    'COMMIT;',
    '',
  ].join('\n');
};

/** pgbench's result: transactions per second and how many it committed. */
export interface PgbenchRun {
  tps: number;
  transactions: number;
}

/** Runs the transaction on `clients` connections for `seconds` against items 0..n-1 of `batchId`. */
export async function runPgbench(
  url: string,
  batchId: string,
  n: number,
  clients: number,
  seconds: number,
): Promise<PgbenchRun> {
  const file = join(mkdtempSync(join(tmpdir(), 'reliable-imports-pgbench-')), 'row.sql');
  writeFileSync(file, script());
  const args = [
    '-n',
    '-M',
    'prepared',
    '-f',
    file,
    '-c',
    String(clients),
    '-j',
    String(clients),
    '-T',
    String(seconds),
    '-D',
    `batch=${batchId}`,
    '-D',
    `n=${n}`,
    url,
  ];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(PGBENCH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (data: Buffer) => (out += data.toString()));
    child.stderr.on('data', (data: Buffer) => (out += data.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}:\n${out}`)),
    );
  });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  const done = /number of transactions actually processed: (\d+)/.exec(output);
  if (!tps || !done) throw new Error(`pgbench: no tps in its output:\n${output}`);
  return { tps: Number(tps[1]), transactions: Number(done[1]) };
}
