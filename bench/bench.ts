/**
 * `npm run bench`: the module against raw `pg` doing the same work, side by side, in one run.
 *
 *   npm run bench              N = 1,000, 10,000 and 100,000 (about 12 minutes on 2 cores)
 *   npm run bench -- --quick   N = 1,000 only (CI runs this so that the script cannot rot)
 *   npm run bench -- --large   also the peak RSS of creating 1,000,000 items from an async generator
 *   npm run bench -- --wide    (part of the full run, not of --quick) the rate and peak RSS of creating
 *                              2,000 rows of 1 MB each from an async generator: chunks bounded by bytes
 *   npm run bench -- --progress
 *                              (part of the full run, not of --quick) the latency of getProgress, median
 *                              and p95 of 50 calls, on a batch of 1,000,000 rows while another app
 *                              processes it at concurrency 4 (and of getBatchSummary, which counts rows)
 *
 * Processing is measured per item (the default), chunked (`commitEvery: 100`), and at concurrency 2 and 4
 * (against sequential per-item). It runs compiled (`dist/bench`), as an application would, on
 * DATABASE_URL's server (default postgres://root@127.0.0.1:5432/postgres) in a database of its own,
 * dropped at the end. Results: a table on stdout and bench/results.json.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { Client } from 'pg';
import {
  BaseProcessor,
  BatchService,
  ImportProcessor,
  ReliableImportsModule,
  reliableImportsMigrations,
  type ImportContext,
  type ImportItem,
} from '../lib';

interface Row {
  email: string;
  first_name: string;
  last_name: string;
  company: string;
  notes: string;
}

/** About 500 bytes of JSON per row, like a wide CSV line. */
const row = (i: number): Row => ({
  email: `customer${i}@example.com`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  company: `Company ${i % 97}`,
  notes: 'x'.repeat(380),
});

/** Like a file stream: rows arrive asynchronously, a chunk at a time. */
async function* rows(count: number): AsyncGenerator<Row> {
  for (let i = 0; i < count; i++) {
    if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    yield row(i);
  }
}

/** 1 MB of JSON per row (a scanned document, a long text), made one at a time as a stream would. */
async function* wideRows(count: number): AsyncGenerator<Row> {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    yield { ...row(i), notes: `${i} `.padEnd(1_000_000, 'x') };
  }
}

/** The rows of the wide figure: 2 GB in all, of which the process must never hold more than a few chunks. */
const WIDE_ROWS = 2000;

const UPSERT =
  'INSERT INTO bench_customers (email, first_name, last_name) VALUES ($1, $2, $3) ' +
  'ON CONFLICT (email) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name';

/** Upserts the row into bench_customers, like an import of customers would. */
@ImportProcessor()
class BenchCustomerProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const r = item.sourceData;
    await ctx.query(UPSERT, [r.email, r.first_name, r.last_name]);
  }
}

const adminUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
/** A database of this run's own (the child of --large is handed its name), so that runs never collide. */
const benchDatabase =
  process.env.RELIABLE_IMPORTS_BENCH_DB ?? `reliable_imports_bench_${process.pid}`;
process.env.RELIABLE_IMPORTS_BENCH_DB = benchDatabase;
const benchUrl = (() => {
  const url = new URL(adminUrl);
  url.pathname = `/${benchDatabase}`;
  return url.toString();
})();

function appModule(poolSize: number) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: benchUrl,
        migrations: reliableImportsMigrations,
        migrationsRun: true,
        extra: { max: poolSize },
        logging: false,
      }),
      ReliableImportsModule.forRoot({ leaseMs: 60_000 }),
    ],
    providers: [BenchCustomerProcessor],
  })
  class BenchModule {}
  return BenchModule;
}

interface Result {
  figure: string;
  n: number;
  module: number;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  /** Peak RSS of this process while the module's side of the figure ran, sampled every 20 ms. */
  peakRssMb?: number;
}

const results: Result[] = [];
const rssMb = () => Math.round(process.memoryUsage().rss / 1024 / 1024);
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb())), 20);
sampler.unref();

/** One timed run of `work` after an untimed `setup`, with the peak RSS sampled while it ran. */
interface Measured {
  seconds: number;
  peakRssMb: number;
}

async function measure(work: () => Promise<unknown>): Promise<Measured> {
  peakRss = rssMb();
  const start = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, peakRssMb: Math.max(peakRss, rssMb()) };
}

/**
 * Runs setup + measured work `times` times and keeps the median run: small figures take about a second,
 * where one slow `fsync` moves a single run by a third.
 */
async function median(
  times: number,
  setup: () => Promise<() => Promise<unknown>> | (() => Promise<unknown>),
): Promise<Measured> {
  const runs: Measured[] = [];
  for (let i = 0; i < times; i++) runs.push(await measure(await setup()));
  runs.sort((a, b) => a.seconds - b.seconds);
  return runs[Math.floor(runs.length / 2)];
}

function record(
  figure: string,
  n: number,
  module: number,
  baseline: number | null,
  unit = 'items/s',
  peakRssMb?: number,
) {
  const ratio = baseline ? Math.round((module / baseline) * 100) / 100 : null;
  results.push({
    figure,
    n,
    module: Math.round(module),
    baseline: baseline === null ? null : Math.round(baseline),
    unit,
    ratio,
    ...(peakRssMb === undefined ? {} : { peakRssMb }),
  });
  const cell = (value: number | null) =>
    (value === null ? '-' : String(Math.round(value))).padStart(8);
  console.log(
    `${figure.padEnd(24)} n=${String(n).padEnd(8)} module ${cell(module)}  baseline ${cell(baseline)}  ` +
      `${unit.padEnd(8)} ratio ${String(ratio ?? '-').padEnd(5)}` +
      (peakRssMb === undefined ? '' : ` peak RSS ${peakRssMb} MB`),
  );
}

/** Raw pg: the same rows into the same table, in one transaction, 1,000 rows per statement. */
async function rawCreate(client: Client, n: number): Promise<void> {
  await client.query('BEGIN');
  const {
    rows: [batch],
  } = await client.query<{ id: string }>(
    `INSERT INTO import_batches (batch_type) VALUES ('bench_customer') RETURNING id`,
  );
  for (let start = 0; start < n; start += 1000) {
    const indexes: number[] = [];
    const data: string[] = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      indexes.push(i);
      data.push(JSON.stringify(row(i)));
    }
    await client.query(
      'INSERT INTO import_batch_items (batch_id, item_index, source_data) SELECT $1, * FROM unnest($2::int[], $3::jsonb[])',
      [batch.id, indexes, data],
    );
  }
  await client.query('COMMIT');
}

/** Raw pg: per item BEGIN; SELECT ... FOR UPDATE; upsert; UPDATE status; COMMIT. */
async function rawProcess(client: Client, batchId: string): Promise<void> {
  const { rows: items } = await client.query<{ id: string }>(
    `SELECT id FROM import_batch_items WHERE batch_id = $1 AND status = 'pending' ORDER BY item_index`,
    [batchId],
  );
  for (const { id } of items) {
    await client.query('BEGIN');
    const {
      rows: [item],
    } = await client.query<{ source_data: Row }>(
      'SELECT source_data FROM import_batch_items WHERE id = $1 FOR UPDATE',
      [id],
    );
    const r = item.source_data;
    await client.query(UPSERT, [r.email, r.first_name, r.last_name]);
    await client.query(
      `UPDATE import_batch_items SET status = 'completed', attempts = attempts + 1, completed_at = now() WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--child-create-1m')) return childCreate(rows(1_000_000));
  if (args.includes('--child-create-wide')) return childCreate(wideRows(WIDE_ROWS));

  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${benchDatabase}"`);
  let machine: string;
  try {
    machine = await measureAll(args);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${benchDatabase}" WITH (FORCE)`);
    await admin.end();
  }

  // Compiled to dist/bench: the results go next to the source, where the README says.
  const file = resolve(__dirname, '../../bench/results.json');
  writeFileSync(file, `${JSON.stringify({ machine, rows: results }, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
}

/** Every figure, on the bench database; returns the description of the machine. */
async function measureAll(args: string[]): Promise<string> {
  const sizes = args.includes('--quick') ? [1000] : [1000, 10_000, 100_000];
  const raw = new Client({ connectionString: benchUrl });
  await raw.connect();
  const app = await NestFactory.createApplicationContext(appModule(10), {
    logger: ['error'],
  }).catch(async (error: unknown) => {
    await raw.end();
    throw error;
  });
  try {
    const batches = app.get(BatchService);
    await raw.query(
      'CREATE TABLE bench_customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, first_name text, last_name text)',
    );
    /** Every run starts on empty tables, not in what (or in the autovacuum that) the last one left. */
    const emptyTables = () =>
      raw.query(
        'TRUNCATE bench_customers, import_logs, import_batch_progress, import_batch_items, import_batches',
      );
    /** A batch of n items to process, on otherwise empty tables, vacuumed and analyzed. */
    const freshBatch = async (n: number) => {
      await emptyTables();
      const batch = await batches.createBatch('bench_customer', rows(n));
      await raw.query('VACUUM ANALYZE import_batch_items');
      return batch.id;
    };
    const {
      rows: [{ server_version: serverVersion }],
    } = await raw.query<{ server_version: string }>('SHOW server_version');
    const machine =
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
      `Node ${process.version}, PostgreSQL ${serverVersion} at ${new URL(adminUrl).host}`;
    console.log(`machine: ${machine}`);

    // Warm-up, not recorded: pool connections, JIT, the server's caches.
    await rawCreate(raw, 300);
    await rawProcess(raw, await freshBatch(300));
    await batches.processBatch(await freshBatch(300));
    await batches.processBatch(await freshBatch(300), { commitEvery: 100 });

    for (const n of sizes) {
      const times = n <= 1000 ? 3 : 1;
      const createArray = await median(times, async () => {
        await emptyTables();
        const items = Array.from({ length: n }, (_, i) => row(i));
        return () => batches.createBatch('bench_customer', items);
      });
      const createAsync = await median(times, async () => {
        await emptyTables();
        return () => batches.createBatch('bench_customer', rows(n));
      });
      const createRaw = await median(times, async () => {
        await emptyTables();
        return () => rawCreate(raw, n);
      });
      /** items/s of the module against the baseline (both on n items), with the module's peak RSS. */
      const rate = (figure: string, module: Measured, baseline: Measured) =>
        record(figure, n, n / module.seconds, n / baseline.seconds, 'items/s', module.peakRssMb);
      /** The median run of `work` on a fresh batch of n items. */
      const processing = (work: (batchId: string) => Promise<unknown>) =>
        median(times, async () => {
          const id = await freshBatch(n);
          return () => work(id);
        });
      rate('create-array', createArray, createRaw);
      rate('create-async', createAsync, createRaw);

      // Processing: each figure on fresh items; the module sequential, chunked, at 2 and 4, and raw pg.
      const rawSeq = await processing((id) => rawProcess(raw, id));
      const moduleSeq = await processing((id) => batches.processBatch(id));
      rate('process-item', moduleSeq, rawSeq);
      const chunked = await processing((id) => batches.processBatch(id, { commitEvery: 100 }));
      rate('process-chunked', chunked, rawSeq);
      const concurrent: Measured[] = [];
      for (const concurrency of [2, 4]) {
        const measured = await processing((id) => batches.processBatch(id, { concurrency }));
        rate(`process-concurrency-${concurrency}`, measured, moduleSeq);
        concurrent.push(measured);
      }

      // Reprocess: 10% of the items failed, then reprocessed; the batch's first run is not what is
      // measured, so its outcome is written directly. Against the raw per-item rate.
      const reprocess = await median(times, async () => {
        const id = await freshBatch(n);
        await raw.query(
          `UPDATE import_batch_items SET status = CASE WHEN item_index % 10 = 0 THEN 'failed' ELSE 'completed' END,
                  attempts = 1, completed_at = now() WHERE batch_id = $1`,
          [id],
        );
        await raw.query(
          `UPDATE import_batches SET status = 'completed_with_errors', started_at = now(), completed_at = now() WHERE id = $1`,
          [id],
        );
        return () => batches.reprocessBatch(id);
      });
      record(
        'reprocess-10pct',
        n / 10,
        n / 10 / reprocess.seconds,
        n / rawSeq.seconds,
        'items/s',
        reprocess.peakRssMb,
      );
      const peaks = [createArray, createAsync, moduleSeq, chunked, ...concurrent, reprocess].map(
        (m) => m.peakRssMb,
      );
      record('peak-rss-mb', n, Math.max(...peaks), null, 'MB');
    }

    if (args.includes('--wide') || !args.includes('--quick')) {
      // No raw baseline: 1,000 rows of 1 MB in one statement, as rawCreate sends them, are 1 GB.
      await emptyTables();
      const { seconds, peakRssMb } = createInChild('--child-create-wide');
      record('create-wide-1mb', WIDE_ROWS, WIDE_ROWS / seconds, null, 'items/s', peakRssMb);
      record('create-wide-peak-rss-mb', WIDE_ROWS, peakRssMb, null, 'MB');
      await emptyTables();
    }

    if (args.includes('--progress') || !args.includes('--quick')) {
      await emptyTables();
      await progressFigure(batches, await freshBatch(1_000_000));
      await emptyTables();
      await etaFigure(batches, await freshBatch(ETA_ROWS));
      await emptyTables();
    }

    if (args.includes('--large')) {
      await emptyTables();
      const rawMillion = await measure(() => rawCreate(raw, 1_000_000));
      await emptyTables();
      const { seconds, peakRssMb } = createInChild('--child-create-1m');
      record('create-1m-async', 1_000_000, 1_000_000 / seconds, 1_000_000 / rawMillion.seconds);
      record('create-1m-peak-rss-mb', 1_000_000, peakRssMb, null, 'MB');
    }
    return machine;
  } finally {
    await raw.end();
    await app.close();
  }
}

/** The value below which `share` of the sorted `values` fall. */
const percentile = (values: number[], share: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * share))];

/**
 * getProgress on a batch of 1,000,000 rows while another app (its own pool) processes it at concurrency 4:
 * 50 calls, one every 100 ms, once the run is under way; and a few getBatchSummary calls beside it, which
 * count the batch's rows. The run is stopped after (its app shut down): the rate is not what is measured.
 */
async function progressFigure(batches: BatchService, batchId: string): Promise<void> {
  const processing = await NestFactory.createApplicationContext(appModule(10), {
    logger: ['error'],
  });
  const run = processing
    .get(BatchService)
    .processBatch(batchId, { concurrency: 4 })
    .catch(() => undefined);
  try {
    const timed = async <T>(read: () => Promise<T>): Promise<[number, T]> => {
      const start = process.hrtime.bigint();
      const value = await read();
      return [Number(process.hrtime.bigint() - start) / 1e6, value];
    };
    while ((await batches.getProgress(batchId)).done < 2000) await sleep(100);
    const progressMs: number[] = [];
    const finishes: number[] = [];
    let last = await batches.getProgress(batchId);
    for (let i = 0; i < 50; i++) {
      const [ms, progress] = await timed(() => batches.getProgress(batchId));
      progressMs.push(ms);
      last = progress;
      if (progress.etaMs !== null) finishes.push(progress.measuredAt.getTime() + progress.etaMs);
      await sleep(100);
    }
    const summaryMs: number[] = [];
    for (let i = 0; i < 5; i++)
      summaryMs.push((await timed(() => batches.getBatchSummary(batchId)))[0]);
    // In microseconds: a record is a whole number.
    record('progress-1m-median', 1_000_000, percentile(progressMs, 0.5) * 1000, null, 'us');
    record('progress-1m-p95', 1_000_000, percentile(progressMs, 0.95) * 1000, null, 'us');
    record('summary-1m-median', 1_000_000, percentile(summaryMs, 0.5) * 1000, null, 'us');
    console.log(
      `  getProgress ms: median ${percentile(progressMs, 0.5).toFixed(2)}, p95 ${percentile(progressMs, 0.95).toFixed(2)}, ` +
        `max ${Math.max(...progressMs).toFixed(2)}; getBatchSummary ms: median ${percentile(summaryMs, 0.5).toFixed(1)}; ` +
        `at the last call: ${last.done} done, ${last.inFlight} in flight, ${last.itemsPerSecond} rows/s, ETA ${last.etaMs} ms; ` +
        `the finish the ETAs foretold moved by ${finishes.length > 1 ? Math.round((finishes[finishes.length - 1] - finishes[0]) / 1000) : '-'} s over the calls`,
    );
  } finally {
    await processing.close();
    await run;
  }
}

/** The batch the ETA figure runs to its end. */
const ETA_ROWS = 100_000;

/**
 * Whether the ETA converges: a batch of 100,000 rows run to its end by another app at concurrency 4, its
 * progress read every second; at 25, 50, 75 and 90% done, how far the finish the ETA foretold was from the
 * real one, as a share of the time that was still to go. Recorded in per mille of that time.
 */
async function etaFigure(batches: BatchService, batchId: string): Promise<void> {
  const processing = await NestFactory.createApplicationContext(appModule(10), {
    logger: ['error'],
  });
  try {
    const readings: Array<{ at: number; done: number; finish: number | null }> = [];
    const run = processing.get(BatchService).processBatch(batchId, { concurrency: 4 });
    let ended = false;
    void run.finally(() => (ended = true)).catch(() => undefined);
    while (!ended) {
      const progress = await batches.getProgress(batchId);
      const at = progress.measuredAt.getTime();
      readings.push({
        at,
        done: progress.done,
        finish: progress.etaMs === null ? null : at + progress.etaMs,
      });
      await sleep(1000);
    }
    const { completedAt } = await run;
    const end = (completedAt ?? new Date()).getTime();
    const errors: string[] = [];
    for (const share of [0.25, 0.5, 0.75, 0.9]) {
      const reading = readings.find((r) => r.done >= ETA_ROWS * share && r.finish !== null);
      if (!reading || reading.finish === null || end <= reading.at) continue;
      const error = Math.abs(reading.finish - end) / (end - reading.at);
      record(`eta-error-${share * 100}pct`, ETA_ROWS, error * 1000, null, 'permille');
      errors.push(`${share * 100}%: ${(error * 100).toFixed(0)}%`);
    }
    console.log(
      `  ETA error at (done: error of the foretold finish, as a share of the time still to go) ${errors.join(', ')}; ` +
        `the run took ${Math.round((end - readings[0].at) / 1000)} s`,
    );
  } finally {
    await processing.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a `--child-create-*` figure in a process of its own; its time and its peak RSS. */
function createInChild(flag: string): { seconds: number; peakRssMb: number } {
  const child = spawnSync(process.execPath, [...process.execArgv, __filename, flag], {
    encoding: 'utf8',
    env: process.env,
  });
  if (child.status !== 0) throw new Error(`${flag} failed:\n${child.stderr}`);
  const line = child.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(line) as { seconds: number; peakRssMb: number };
}

/** In a process of its own, so that its peak RSS is its own: a batch created from an async generator. */
async function childCreate(items: AsyncGenerator<Row>): Promise<void> {
  const app = await NestFactory.createApplicationContext(appModule(4), { logger: ['error'] });
  const { seconds } = await measure(() =>
    app.get(BatchService).createBatch('bench_customer', items),
  );
  await app.close();
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ seconds, peakRssMb }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
