/**
 * `npm run bench -- --history`: whether claims stay fast as the tables grow (issue 15, item 6). The same
 * batch is processed on two databases of the same server, interleaved round by round:
 *
 * - "empty": the module's tables hold nothing but the batch;
 * - "history": they already hold 1,000,000, then 10,000,000 finished rows (completed batches of 10,000
 *   rows of about 500 bytes, cloned from one made by `createBatch`, then vacuumed and analyzed as
 *   autovacuum would).
 *
 * Each side runs once as it is and once while another session of the same database holds a transaction
 * open for the whole run (a REPEATABLE READ snapshot: vacuum can remove no row version the run makes dead,
 * and every scan walks them). Per run: rows per second, the latency of every claim (the statements with
 * `FOR UPDATE SKIP LOCKED`, timed from the module's side) and the dead row versions of the items table
 * after it. Per round, each rate is divided by the empty side's without the open transaction; the median of
 * the rounds is reported. Autovacuum runs as configured on the server; where it is off, the bench vacuums
 * the module's tables before each run (not measured), as autovacuum would have between two imports.
 */
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { BatchService, type ProcessBatchOptions } from '../lib';
import { appModule } from './app';
import { timeStatements } from './meter';
import { CREATE_CUSTOMERS, rows } from './work';

/** The sizes of a history run. */
export interface HistoryPlan {
  /** Finished rows the history side holds, in turn: each a top-up of the one before. */
  scales: number[];
  /** Rows of the batch each run processes. */
  batchRows: number;
  rounds: number;
}

export const HISTORY_FULL: HistoryPlan = {
  scales: [1_000_000, 10_000_000],
  batchRows: 50_000,
  rounds: 3,
};

/** What `--quick` runs, so that CI keeps the figure working: a small history, one round. */
export const HISTORY_QUICK: HistoryPlan = { scales: [20_000], batchRows: 500, rounds: 1 };

/** Rows of each finished batch of the history. */
const HISTORY_BATCH_ROWS = 10_000;
/** Finished batches cloned per statement while filling (a million rows). */
const CLONES_PER_STATEMENT = 100;

const MODES: Array<{ name: string; options: ProcessBatchOptions }> = [
  { name: 'per-row c4', options: { concurrency: 4 } },
  { name: 'chunked c4', options: { commitEvery: 100, concurrency: 4 } },
];

/** One database of the figure, with an app of its own. */
interface Side {
  name: 'empty' | 'history';
  url: string;
  database: string;
  batches: BatchService;
  dataSource: DataSource;
  close: () => Promise<void>;
}

/** One processing run. */
interface HistorySample {
  side: Side['name'];
  mode: string;
  openTransaction: boolean;
  rowsPerSecond: number;
  claims: number;
  claimMedianMs: number;
  claimP95Ms: number;
  deadItemVersions: number;
}

const median = (values: number[]) => percentile(values, 0.5);
const percentile = (values: number[], share: number) =>
  values.length === 0
    ? 0
    : [...values].sort((a, b) => a - b)[
        Math.min(values.length - 1, Math.floor(values.length * share))
      ];
const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * Runs the figure on two databases of its own (created next to `benchDatabase`, dropped at the end).
 * @returns what results.json holds of it.
 */
export async function historyFigures(
  adminUrl: string,
  benchDatabase: string,
  plan: HistoryPlan,
): Promise<Record<string, unknown>> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('SET stats_fetch_consistency = none');
  const sides: Side[] = [];
  try {
    for (const name of ['empty', 'history'] as const)
      sides.push(await openSide(admin, adminUrl, `${benchDatabase}_${name}`, name));
    const [empty, history] = sides;
    const {
      rows: [{ setting }],
    } = await admin.query<{ setting: string }>(
      "SELECT setting FROM pg_settings WHERE name = 'autovacuum'",
    );
    const autovacuum = setting === 'on';
    console.log(
      `\nhistory: batches of ${plan.batchRows} rows, ${plan.rounds} round(s) per scale; autovacuum ` +
        (autovacuum ? 'on' : 'off on this server: the bench vacuums before each run'),
    );
    const scales: Array<Record<string, unknown>> = [];
    let filled = 0;
    let template: string | null = null;
    for (const scale of plan.scales) {
      const started = Date.now();
      template ??= await makeTemplate(history);
      filled = await fillHistory(history, template, filled, scale);
      const fillSeconds = Math.round((Date.now() - started) / 1000);
      console.log(`history: ${filled} finished rows (filled in ${fillSeconds} s)`);
      const samples: HistorySample[][] = [];
      for (let round = 0; round < plan.rounds; round++) {
        const runs: Array<[Side, (typeof MODES)[number], boolean]> = [];
        for (const side of [empty, history])
          for (const mode of MODES)
            for (const openTransaction of [false, true]) runs.push([side, mode, openTransaction]);
        // Rotated, so that no run always follows the same one.
        const order = runs.map((_, i) => runs[(i + round * 3) % runs.length]);
        const results: HistorySample[] = [];
        for (const [side, mode, openTransaction] of order) {
          const sample = await processOnce(admin, side, mode, openTransaction, {
            batchRows: plan.batchRows,
            autovacuum,
          });
          results.push(sample);
          console.log(
            `  round ${round + 1} ${side.name.padEnd(7)} ${mode.name} ${openTransaction ? 'open transaction' : '                '} ` +
              `${String(sample.rowsPerSecond).padStart(6)} rows/s, claim median ${sample.claimMedianMs} ms ` +
              `p95 ${sample.claimP95Ms} ms (${sample.claims} claims), ${sample.deadItemVersions} dead item versions`,
          );
        }
        samples.push(results);
      }
      scales.push({ finishedRows: filled, fillSeconds, ...summarize(samples, filled) });
    }
    return { plan, scales };
  } finally {
    for (const side of sides) await side.close();
    for (const side of sides)
      await admin.query(`DROP DATABASE IF EXISTS "${side.database}" WITH (FORCE)`);
    await admin.end();
  }
}

async function openSide(
  admin: Client,
  adminUrl: string,
  database: string,
  name: Side['name'],
): Promise<Side> {
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const app = await NestFactory.createApplicationContext(appModule(10, url.toString()), {
    logger: ['error'],
  });
  const dataSource = app.get(DataSource);
  await dataSource.query(CREATE_CUSTOMERS);
  return {
    name,
    url: url.toString(),
    database,
    batches: app.get(BatchService),
    dataSource,
    close: () => app.close(),
  };
}

/** A batch made by the module, then marked finished as a run would leave it: what the history clones. */
async function makeTemplate(side: Side): Promise<string> {
  const batch = await side.batches.createBatch('bench_customer', rows(HISTORY_BATCH_ROWS));
  await side.dataSource.query(
    `UPDATE import_batch_items SET status = 'completed', attempts = 1, started_at = now(),
       completed_at = now(), processed_data = 'null'::jsonb WHERE batch_id = $1`,
    [batch.id],
  );
  await side.dataSource.query(
    `UPDATE import_batches SET status = 'completed', completed_items = total_items, started_at = now(),
       completed_at = now() WHERE id = $1`,
    [batch.id],
  );
  return batch.id;
}

/** Adds finished batches, copies of `template`, until the history holds `upTo` finished rows. */
async function fillHistory(
  side: Side,
  template: string,
  filled: number,
  upTo: number,
): Promise<number> {
  const columns = async (table: string) =>
    (
      await side.dataSource.query<Array<{ name: string }>>(
        `SELECT column_name AS name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      )
    ).map((c) => c.name);
  const batchColumns = await columns('import_batches');
  const itemColumns = await columns('import_batch_items');
  const copy = (names: string[], replace: Record<string, string>, alias: string) =>
    names.map((n) => replace[n] ?? `${alias}."${n}"`).join(', ');
  const list = (names: string[]) => names.map((n) => `"${n}"`).join(', ');
  let count = filled === 0 ? HISTORY_BATCH_ROWS : filled;
  while (count < upTo) {
    const clones = Math.min(CLONES_PER_STATEMENT, Math.ceil((upTo - count) / HISTORY_BATCH_ROWS));
    await side.dataSource.query(
      `WITH made AS (
         INSERT INTO import_batches (${list(batchColumns)})
         SELECT ${copy(batchColumns, { id: 'gen_random_uuid()', idempotency_key: 'NULL' }, 't')}
           FROM import_batches t, generate_series(1, $2::int) WHERE t.id = $1
         RETURNING id
       )
       INSERT INTO import_batch_items (${list(itemColumns)})
       SELECT ${copy(itemColumns, { id: 'gen_random_uuid()', batch_id: 'made.id' }, 'i')}
         FROM made, import_batch_items i WHERE i.batch_id = $1`,
      [template, clones],
    );
    count += clones * HISTORY_BATCH_ROWS;
    if (upTo > 1_000_000) console.log(`  history: ${count} finished rows`);
  }
  // What autovacuum would have done after such inserts, before the next import comes.
  await side.dataSource.query('VACUUM ANALYZE import_batches, import_batch_items');
  return count;
}

/**
 * One run of a fresh batch on `side`, in `mode`, with or without another session's transaction open
 * for the whole run.
 */
async function processOnce(
  admin: Client,
  side: Side,
  mode: (typeof MODES)[number],
  openTransaction: boolean,
  { batchRows, autovacuum }: { batchRows: number; autovacuum: boolean },
): Promise<HistorySample> {
  if (side.name === 'empty')
    await side.dataSource.query(
      'TRUNCATE import_logs, import_batch_progress, import_batch_items, import_batches',
    );
  await side.dataSource.query('TRUNCATE bench_customers');
  const batch = await side.batches.createBatch('bench_customer', rows(batchRows));
  // Between imports autovacuum would have cleaned up after the last run; where the server has it off,
  // the bench does it, so that each run starts from the same state and only its own snapshot differs.
  await side.dataSource.query(
    autovacuum
      ? 'ANALYZE import_batch_items'
      : 'VACUUM ANALYZE import_batches, import_batch_items, import_batch_progress',
  );
  const holder = openTransaction ? await holdSnapshot(side.url) : null;
  const claims = timeStatements(/FOR UPDATE SKIP LOCKED/);
  try {
    const start = process.hrtime.bigint();
    await side.batches.processBatch(batch.id, mode.options);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const dead = await deadVersions(admin, side, holder);
    return {
      side: side.name,
      mode: mode.name,
      openTransaction,
      rowsPerSecond: Math.round(batchRows / seconds),
      claims: claims.durations.length,
      claimMedianMs: round2(median(claims.durations)),
      claimP95Ms: round2(percentile(claims.durations, 0.95)),
      deadItemVersions: dead,
    };
  } finally {
    claims.stop();
    await holder?.end();
  }
}

/**
 * A session that holds a snapshot until ended, as a long report, a forgotten `BEGIN` in psql or a stuck
 * job would: no row version that becomes dead after it started can be removed while it is open.
 */
async function holdSnapshot(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await client.query('SELECT count(*) FROM import_batches');
  return client;
}

/**
 * The dead row versions of the items table, once the run's connections have closed (a backend reports
 * its counts when it exits; the app's pool closes idle connections after a quarter of a second). The
 * session holding a snapshot, if any, is left out of the wait.
 */
async function deadVersions(admin: Client, side: Side, holder: Client | null): Promise<number> {
  const holderPid = holder
    ? (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid
    : 0;
  for (let i = 0; i < 100; i++) {
    const { rows: open } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> $2',
      [side.database, holderPid],
    );
    if (open[0].n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const reader = new Client({ connectionString: side.url });
  await reader.connect();
  try {
    await reader.query('SET stats_fetch_consistency = none');
    const { rows: found } = await reader.query<{ dead: string }>(
      "SELECT n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'import_batch_items'",
    );
    return Number(found[0]?.dead ?? 0);
  } finally {
    await reader.end();
  }
}

/** Medians of the rounds, and each rate as a share of the empty side's without an open transaction. */
function summarize(samples: HistorySample[][], finishedRows: number): Record<string, unknown> {
  const figures: Array<Record<string, unknown>> = [];
  const ratios: Array<Record<string, unknown>> = [];
  for (const mode of MODES) {
    const pick = (round: HistorySample[], side: Side['name'], open: boolean) =>
      round.find((s) => s.side === side && s.mode === mode.name && s.openTransaction === open);
    for (const side of ['empty', 'history'] as const)
      for (const open of [false, true]) {
        const runs = samples.map((round) => pick(round, side, open)).filter((s) => s !== undefined);
        figures.push({
          mode: mode.name,
          side,
          openTransaction: open,
          rowsPerSecond: Math.round(median(runs.map((s) => s.rowsPerSecond))),
          claimMedianMs: round2(median(runs.map((s) => s.claimMedianMs))),
          claimP95Ms: round2(median(runs.map((s) => s.claimP95Ms))),
          deadItemVersions: Math.round(median(runs.map((s) => s.deadItemVersions))),
        });
        if (side === 'empty' && !open) continue;
        const perRound = samples.map((round) => {
          const base = pick(round, 'empty', false);
          const ours = pick(round, side, open);
          return base && ours ? round2(ours.rowsPerSecond / base.rowsPerSecond) : 0;
        });
        ratios.push({
          name: `${mode.name}: ${side === 'history' ? `${finishedRows} finished rows` : 'empty'}${open ? ', open transaction' : ''} ÷ empty`,
          median: round2(median(perRound)),
          rounds: perRound,
          met: median(perRound) >= 0.9,
        });
      }
  }
  console.log(
    `\n${'history figure'.padEnd(40)} rows/s  claim median  claim p95  dead item versions`,
  );
  for (const f of figures)
    console.log(
      `${`${String(f.mode)}, ${String(f.side)}${f.openTransaction ? ', open txn' : ''}`.padEnd(40)} ` +
        `${String(f.rowsPerSecond).padStart(6)}  ${String(f.claimMedianMs).padStart(9)} ms ` +
        `${String(f.claimP95Ms).padStart(7)} ms  ${String(f.deadItemVersions).padStart(10)}`,
    );
  for (const r of ratios)
    console.log(
      `${String(r.name).padEnd(64)} ${Number(r.median).toFixed(2)}  ≥ 0.90${r.met ? '✔' : '✘'}  ${(r.rounds as number[]).join(' ')}`,
    );
  return { figures, ratios };
}
