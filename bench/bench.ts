/**
 * `npm run bench`: the module against raw node-postgres and pgbench doing the same work, interleaved, in
 * several rounds of one run (see README, "Performance").
 *
 *   npm run bench              5 rounds, then --wide and --progress (well over half an hour on the loaded
 *                              2-core machine of the README, whose load slows every figure)
 *   npm run bench -- --quick   3 small rounds, pgbench at 2 s (CI runs this so that the script cannot rot)
 *   npm run bench -- --large   also the peak RSS of creating 1,000,000 items from an async generator
 *   npm run bench -- --huge    also the rate and peak RSS of creating 10,000,000 items (about 8 GB of disk)
 *   npm run bench -- --scale   (part of the full run; --quick runs a small one) rows per second with 1, 2
 *                              and 4 processes on one batch, per row and chunked (bench/scale.ts)
 *   npm run bench -- --history only the history figure (bench/history.ts): the rate and claim latency on
 *                              tables that already hold 1,000,000 and 10,000,000 finished rows, and while
 *                              another session holds a transaction open (about 10 GB of disk; --quick runs
 *                              a small one); `--history=200000` picks the sizes, `--history-batch=N`
 *                              the rows of the processed batch (50,000), `--history-rounds=N` the rounds
 *   npm run bench -- --wide    (part of the full run, not of --quick) the rate and peak RSS of creating
 *                              2,000 rows of 1 MB each from an async generator: chunks bounded by bytes
 *   npm run bench -- --progress
 *                              (part of the full run, not of --quick) the latency of getProgress, median
 *                              and p95 of 50 calls, on a batch of 1,000,000 rows while another app
 *                              processes it at concurrency 4 (and of getBatchSummary, which counts rows),
 *                              and how well the ETA foretells the end of a batch of 100,000 rows
 *
 * Each round runs every figure once, in an order rotated from round to round, each on fresh tables; a
 * ratio is taken within a round (the machine's load hits both sides alike) and the median of the rounds'
 * ratios is reported. Per figure it also reports round trips, commits and WAL bytes per row (bench/meter.ts).
 * It runs compiled (`dist/bench`), as an application would, on DATABASE_URL's server (default
 * postgres://root@127.0.0.1:5432/postgres) in a database of its own, dropped at the end. Results: tables on
 * stdout and bench/results.json.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { BatchService, type ProcessBatchOptions } from '../lib';
import { appModule } from './app';
import { HISTORY_FULL, HISTORY_QUICK, historyFigures } from './history';
import { childProcessBatch, processInChildren, SCALE_MODES, SCALE_PROCESSES } from './scale';
import { rawCopy, rawCreate, rawProcess } from './baselines';
import { countQueries, Meter, type Cost } from './meter';
import { pgbenchMissing, runPgbench } from './pgbench';
import { CREATE_CUSTOMERS, row, rowBytes, rows, type Row } from './work';

/** 1 MB of JSON per row (a scanned document, a long text), made one at a time as a stream would. */
async function* wideRows(count: number): AsyncGenerator<Row> {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    yield { ...row(i), notes: `${i} `.padEnd(1_000_000, 'x') };
  }
}

/** The rows of the wide figure: 2 GB in all, of which the process must never hold more than a few chunks. */
const WIDE_ROWS = 2000;

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

/** The sizes of a run. */
interface Plan {
  rounds: number;
  /** Rows of each per-row processing figure, module and raw. */
  perRow: number;
  /** Rows of each chunked figure (they run four times faster or more). */
  chunked: number;
  /** Rows of each creation figure. */
  create: number;
  /** pgbench's -T; 0 skips it. */
  pgbenchSeconds: number;
}

const FULL: Plan = { rounds: 5, perRow: 2000, chunked: 8000, create: 50_000, pgbenchSeconds: 5 };
const QUICK: Plan = { rounds: 3, perRow: 300, chunked: 1200, create: 5000, pgbenchSeconds: 2 };

/** One measured run of a figure. */
interface Sample extends Cost {
  rows: number;
  seconds: number;
}

/** A figure: `setup` (not measured) prepares fresh tables and returns the measured work. */
interface Figure {
  name: string;
  what: string;
  setup: () => Promise<() => Promise<{ rows: number; seconds?: number; roundTrips?: number }>>;
}

/** A ratio of two figures of the same round, with the target of issue 16 where there is one. */
interface Ratio {
  name: string;
  numerator: string;
  denominator: string;
  target?: number;
}

const RATIOS: Ratio[] = [
  {
    name: 'per-row c1 ÷ raw loop c1',
    numerator: 'module-item-c1',
    denominator: 'raw-item-c1',
    target: 0.95,
  },
  {
    name: 'per-row c4 ÷ pgbench c4',
    numerator: 'module-item-c4',
    denominator: 'pgbench-c4',
    target: 0.7,
  },
  { name: 'per-row c4 ÷ raw loop c4', numerator: 'module-item-c4', denominator: 'raw-item-c4' },
  {
    name: 'chunked c1 ÷ raw loop c1',
    numerator: 'module-chunked-c1',
    denominator: 'raw-item-c1',
    target: 3.5,
  },
  {
    name: 'chunked c4 ÷ raw loop c1',
    numerator: 'module-chunked-c4',
    denominator: 'raw-item-c1',
    target: 6.5,
  },
  { name: 'chunked c4 ÷ raw loop c4', numerator: 'module-chunked-c4', denominator: 'raw-item-c4' },
  {
    name: 'create async ÷ raw COPY',
    numerator: 'create-async',
    denominator: 'create-copy',
    target: 0.9,
  },
  { name: 'create async ÷ raw insert', numerator: 'create-async', denominator: 'create-raw' },
  { name: 'raw loop c1 ÷ pgbench c1', numerator: 'raw-item-c1', denominator: 'pgbench-c1' },
  { name: 'raw loop c4 ÷ pgbench c4', numerator: 'raw-item-c4', denominator: 'pgbench-c4' },
];

/** The other figures (--progress, --wide, --large): one measurement each, as before. */
interface Extra {
  figure: string;
  n: number;
  value: number;
  baseline: number | null;
  unit: string;
  ratio: number | null;
}

const extras: Extra[] = [];

function record(
  figure: string,
  n: number,
  value: number,
  baseline: number | null,
  unit = 'items/s',
) {
  const ratio = baseline ? Math.round((value / baseline) * 100) / 100 : null;
  extras.push({
    figure,
    n,
    value: Math.round(value),
    baseline: baseline === null ? null : Math.round(baseline),
    unit,
    ratio,
  });
  console.log(
    `${figure.padEnd(24)} n=${String(n).padEnd(8)} ${String(Math.round(value)).padStart(8)} ${unit}` +
      (baseline === null ? '' : `  baseline ${Math.round(baseline)}  ratio ${ratio}`),
  );
}

/** The median of numbers (the mean of the middle two for an even count). */
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--child-create-1m')) return childCreate(rows(1_000_000));
  if (args.includes('--child-create-10m')) return childCreate(rows(10_000_000));
  const child = args.indexOf('--child-process-batch');
  if (child >= 0)
    return childProcessBatch(
      benchUrl,
      args[child + 1],
      JSON.parse(args[child + 2]) as ProcessBatchOptions,
    );
  if (args.includes('--child-create-wide')) return childCreate(wideRows(WIDE_ROWS));

  countQueries();
  const history = args.find((arg) => arg === '--history' || arg.startsWith('--history='));
  if (history) {
    // Its own run: it needs about 10 GB of disk and half an hour, and measures nothing else.
    const scales = history.includes('=')
      ? history.slice('--history='.length).split(',').map(Number)
      : HISTORY_FULL.scales;
    const flag = (name: string) => {
      const value = args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
      return value === undefined ? undefined : Number(value);
    };
    const report = await historyFigures(adminUrl, benchDatabase, {
      scales,
      batchRows: flag('history-batch') ?? HISTORY_FULL.batchRows,
      rounds: flag('history-rounds') ?? HISTORY_FULL.rounds,
    });
    writeResults({ history: report }, 'results-history.json');
    console.log(`\nwrote bench/results-history.json in ${Math.round(process.uptime())} s`);
    return;
  }
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${benchDatabase}"`);
  let report: Record<string, unknown>;
  try {
    report = await measureAll(args);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${benchDatabase}" WITH (FORCE)`);
    await admin.end();
  }
  if (args.includes('--quick'))
    report.history = await historyFigures(adminUrl, benchDatabase, HISTORY_QUICK);

  writeResults(report);
  console.log(`\nwrote bench/results.json in ${Math.round(process.uptime())} s`);
}

/** Compiled to dist/bench: the results go next to the source, where the README says. */
function writeResults(report: Record<string, unknown>, name = 'results.json'): void {
  const file = resolve(__dirname, '../../bench', name);
  writeFileSync(file, `${JSON.stringify({ ...report, extras }, null, 2)}\n`);
}

/** Every figure, on the bench database; returns what results.json holds besides the extras. */
async function measureAll(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const plan = { ...(quick ? QUICK : FULL) };
  const meter = await Meter.open(adminUrl, benchDatabase, benchUrl);
  const app = await NestFactory.createApplicationContext(appModule(10, benchUrl), {
    logger: ['error'],
  }).catch(async (error: unknown) => {
    await meter.close();
    throw error;
  });
  try {
    const batches = app.get(BatchService);
    const dataSource = app.get(DataSource);
    await dataSource.query(CREATE_CUSTOMERS);
    // Every figure starts on truncated, vacuumed tables: autovacuum would only add noise (and commits).
    for (const table of [
      'bench_customers',
      'import_batches',
      'import_batch_items',
      'import_logs',
      'import_batch_progress',
    ])
      await dataSource.query(`ALTER TABLE "${table}" SET (autovacuum_enabled = false)`);
    const emptyTables = () =>
      dataSource.query(
        'TRUNCATE bench_customers, import_logs, import_batch_progress, import_batch_items, import_batches',
      );
    /** A batch of n items to process, on otherwise empty tables, vacuumed and analyzed. */
    const freshBatch = async (n: number) => {
      await emptyTables();
      const batch = await batches.createBatch('bench_customer', rows(n));
      await dataSource.query('VACUUM ANALYZE import_batch_items');
      return batch.id;
    };
    const [{ server_version: serverVersion }] =
      await dataSource.query<Array<{ server_version: string }>>('SHOW server_version');
    const machine =
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
      `Node ${process.version}, PostgreSQL ${serverVersion} at ${new URL(adminUrl).host}`;
    const load = () => loadavg()[0].toFixed(1);
    console.log(`machine: ${machine}; load average at the start ${load()}`);
    console.log(
      `rows of ${rowBytes()} bytes of JSON; ${plan.rounds} rounds of ${plan.perRow} rows per-row, ` +
        `${plan.chunked} chunked, ${plan.create} created` +
        (plan.pgbenchSeconds ? `, pgbench -T ${plan.pgbenchSeconds}` : ''),
    );

    const missing = plan.pgbenchSeconds ? pgbenchMissing() : 'skipped';
    if (missing) console.log(`pgbench: ${missing}; its figures and ratios are left out`);

    const processing =
      (n: number, work: (id: string) => Promise<unknown>): Figure['setup'] =>
      async () => {
        const id = await freshBatch(n);
        return async () => {
          await work(id);
          return { rows: n };
        };
      };
    const figures: Figure[] = [
      {
        name: 'create-async',
        what: 'createBatch from an async generator',
        setup: async () => {
          await emptyTables();
          return async () => {
            await batches.createBatch('bench_customer', rows(plan.create));
            return { rows: plan.create };
          };
        },
      },
      {
        name: 'create-raw',
        what: 'raw insert, 1,000 rows per statement from a jsonb array',
        setup: async () => {
          await emptyTables();
          return async () => {
            await rawCreate(benchUrl, plan.create);
            return { rows: plan.create };
          };
        },
      },
      {
        name: 'create-copy',
        what: 'raw COPY ... FROM STDIN (text), 1,000 rows per write',
        setup: async () => {
          await emptyTables();
          return async () => {
            await rawCopy(benchUrl, plan.create);
            return { rows: plan.create };
          };
        },
      },
      {
        name: 'raw-item-c1',
        what: 'raw loop, 1 connection',
        setup: processing(plan.perRow, (id) => rawProcess(benchUrl, id, 1)),
      },
      {
        name: 'raw-item-c4',
        what: 'raw loop, 4 connections',
        setup: processing(plan.perRow, (id) => rawProcess(benchUrl, id, 4)),
      },
      {
        name: 'module-item-c1',
        what: 'processBatch, per row',
        setup: processing(plan.perRow, (id) => batches.processBatch(id)),
      },
      {
        name: 'module-item-c4',
        what: 'processBatch, per row, concurrency 4',
        setup: processing(plan.perRow, (id) => batches.processBatch(id, { concurrency: 4 })),
      },
      {
        name: 'module-chunked-c1',
        what: 'processBatch, commitEvery 100',
        setup: processing(plan.chunked, (id) => batches.processBatch(id, { commitEvery: 100 })),
      },
      {
        name: 'module-chunked-c4',
        what: 'processBatch, commitEvery 100, concurrency 4',
        setup: processing(plan.chunked, (id) =>
          batches.processBatch(id, { commitEvery: 100, concurrency: 4 }),
        ),
      },
    ];
    if (!missing)
      for (const clients of [1, 4])
        figures.push({
          name: `pgbench-c${clients}`,
          what: `pgbench -M prepared, ${clients} client${clients > 1 ? 's' : ''}`,
          setup: async () => {
            const id = await freshBatch(plan.perRow);
            return async () => {
              const run = await runPgbench(benchUrl, id, plan.perRow, clients, plan.pgbenchSeconds);
              // Its statements are not this process's to count: four per transaction, by its script.
              return {
                rows: run.transactions,
                seconds: run.transactions / run.tps,
                roundTrips: run.transactions * 4,
              };
            };
          },
        });

    const sampleOf = async (figure: Figure): Promise<Sample> => {
      const work = await figure.setup();
      await meter.quiesce();
      const before = await meter.read();
      const start = process.hrtime.bigint();
      const done = await work();
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      const cost = await meter.since(before, meter.roundTripsNow());
      return {
        rows: done.rows,
        seconds: done.seconds ?? elapsed,
        ...cost,
        roundTrips: done.roundTrips ?? cost.roundTrips,
      };
    };

    // Warm-up, not recorded: connections, JIT, the server's caches, pgbench's first start.
    const warmUp = { ...plan, perRow: 200, chunked: 400, create: 1000 };
    Object.assign(plan, warmUp);
    for (const figure of figures.filter((f) => !f.name.startsWith('pgbench')))
      await sampleOf(figure);
    Object.assign(plan, quick ? QUICK : FULL);

    const samples = new Map<string, Sample[]>(figures.map((f) => [f.name, []]));
    for (let round = 0; round < plan.rounds; round++) {
      // Rotated, so that no figure always runs right after the same one (or first, on a cold cache).
      const order = figures.map((_, i) => figures[(i + round * 3) % figures.length]);
      const line: string[] = [];
      for (const figure of order) {
        const sample = await sampleOf(figure);
        samples.get(figure.name)?.push(sample);
        line.push(`${figure.name} ${Math.round(sample.rows / sample.seconds)}`);
      }
      console.log(`round ${round + 1}/${plan.rounds} (load ${load()}): ${line.join(', ')} rows/s`);
    }

    const summary = figures.map((figure) => {
      const runs = samples.get(figure.name) ?? [];
      const per = (pick: (s: Sample) => number) => median(runs.map((s) => pick(s) / s.rows));
      const ours = runs.filter((s) => s.walOfDatabase);
      return {
        figure: figure.name,
        what: figure.what,
        rowsPerSecond: Math.round(median(runs.map((s) => s.rows / s.seconds))),
        min: Math.round(Math.min(...runs.map((s) => s.rows / s.seconds))),
        max: Math.round(Math.max(...runs.map((s) => s.rows / s.seconds))),
        roundTripsPerRow: Math.round(per((s) => s.roundTrips) * 1000) / 1000,
        commitsPerRow: Math.round(per((s) => s.commits) * 1000) / 1000,
        // The database's own, over the rounds where pg_walinspect could read it (a checkpoint may have
        // recycled the WAL meanwhile); the server's where it never could.
        walBytesPerRow: Math.round(
          ours.length ? median(ours.map((s) => s.walBytes / s.rows)) : per((s) => s.serverWalBytes),
        ),
        walRoundsOfDatabase: ours.length,
        serverWalBytesPerRow: Math.round(per((s) => s.serverWalBytes)),
        samples: runs,
      };
    });
    console.log(
      `\n${'figure'.padEnd(18)} ${'rows/s'.padStart(7)} ${'(min-max)'.padEnd(13)} ${'trips/row'.padStart(9)} ` +
        `${'commits/row'.padStart(11)} ${'WAL B/row'.padStart(9)} ${'server WAL'.padStart(10)}  what`,
    );
    for (const s of summary)
      console.log(
        `${s.figure.padEnd(18)} ${String(s.rowsPerSecond).padStart(7)} ${`(${s.min}-${s.max})`.padEnd(13)} ` +
          `${s.roundTripsPerRow.toFixed(3).padStart(9)} ${s.commitsPerRow.toFixed(3).padStart(11)} ` +
          `${`${s.walBytesPerRow}${s.walRoundsOfDatabase ? '' : '*'}`.padStart(9)} ${String(s.serverWalBytesPerRow).padStart(10)}  ${s.what}`,
      );

    if (summary.some((s) => !s.walRoundsOfDatabase))
      console.log("* the whole server's WAL: pg_walinspect could not read the bench database's");
    const ratios = RATIOS.filter(
      (r) => samples.get(r.numerator)?.length && samples.get(r.denominator)?.length,
    ).map((r) => {
      const rate = (name: string, round: number) => {
        const s = (samples.get(name) ?? [])[round];
        return s.rows / s.seconds;
      };
      const perRound = Array.from(
        { length: plan.rounds },
        (_, round) =>
          Math.round((rate(r.numerator, round) / rate(r.denominator, round)) * 100) / 100,
      );
      const value = Math.round(median(perRound) * 100) / 100;
      return {
        ...r,
        median: value,
        rounds: perRound,
        met: r.target === undefined ? null : value >= r.target,
      };
    });
    console.log(
      `\n${'ratio (median of the rounds)'.padEnd(28)} ${'median'.padStart(6)}  target  rounds`,
    );
    for (const r of ratios)
      console.log(
        `${r.name.padEnd(28)} ${r.median.toFixed(2).padStart(6)}  ` +
          `${r.target === undefined ? '      ' : `≥ ${r.target.toFixed(2)}${r.met ? '✔' : '✘'}`.padEnd(7)} ` +
          ` ${r.rounds.join(' ')}`,
      );

    const report = {
      machine,
      date: new Date().toISOString(),
      loadAverageAtEnd: loadavg(),
      mode: quick ? 'quick' : 'full',
      plan,
      rowBytes: rowBytes(),
      pgbench: missing ?? 'ran',
      walOf: meter.walOfDatabase ? 'the bench database (pg_walinspect)' : 'the whole server',
      figures: summary,
      ratios,
    };
    // Written now as well: the figures after this one take long, and a failure there must not lose these.
    writeResults(report);

    if (args.includes('--wide') || !quick) {
      // No raw baseline: 1,000 rows of 1 MB in one statement, as rawCreate sends them, are 1 GB.
      await emptyTables();
      const { seconds, peakRssMb } = createInChild('--child-create-wide');
      record('create-wide-1mb', WIDE_ROWS, WIDE_ROWS / seconds, null, 'items/s');
      record('create-wide-peak-rss-mb', WIDE_ROWS, peakRssMb, null, 'MB');
      await emptyTables();
    }

    if (args.includes('--progress') || !quick) {
      await emptyTables();
      await progressFigure(batches, await freshBatch(1_000_000));
      await emptyTables();
      await etaFigure(batches, await freshBatch(ETA_ROWS));
      await emptyTables();
    }

    {
      // --quick runs it small, so that CI keeps it working.
      const small = quick && !args.includes('--scale');
      for (const mode of SCALE_MODES) {
        const sized = small ? { ...mode, rows: mode.rows / 20 } : mode;
        let one: number | null = null;
        for (const processes of SCALE_PROCESSES) {
          const id = await freshBatch(sized.rows);
          const sample = await processInChildren(
            [...process.execArgv, __filename],
            id,
            sized,
            processes,
          );
          one ??= sample.rowsPerSecond;
          record(`scale-${mode.name}-${processes}p`, sized.rows, sample.rowsPerSecond, one);
          record(
            `scale-${mode.name}-${processes}p-rss-mb`,
            sized.rows,
            sample.peakRssMb,
            null,
            'MB',
          );
        }
      }
      await emptyTables();
    }

    if (args.includes('--huge')) {
      // The raw baseline of a 10,000,000-row create is not run: its 1,000-row statements are the same as
      // in --large, and it would add minutes for nothing the figure needs (the peak RSS).
      await emptyTables();
      const { seconds, peakRssMb } = createInChild('--child-create-10m');
      record('create-10m-async', 10_000_000, 10_000_000 / seconds, null);
      record('create-10m-peak-rss-mb', 10_000_000, peakRssMb, null, 'MB');
      await emptyTables();
    }

    if (args.includes('--large')) {
      await emptyTables();
      const start = process.hrtime.bigint();
      await rawCreate(benchUrl, 1_000_000);
      const rawSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      await emptyTables();
      const { seconds, peakRssMb } = createInChild('--child-create-1m');
      record('create-1m-async', 1_000_000, 1_000_000 / seconds, 1_000_000 / rawSeconds);
      record('create-1m-peak-rss-mb', 1_000_000, peakRssMb, null, 'MB');
    }
    return { ...report, loadAverageAtEnd: loadavg() };
  } finally {
    await meter.close();
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
  const processing = await NestFactory.createApplicationContext(appModule(10, benchUrl), {
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
  const processing = await NestFactory.createApplicationContext(appModule(10, benchUrl), {
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
  const app = await NestFactory.createApplicationContext(appModule(4, benchUrl), {
    logger: ['error'],
  });
  const start = process.hrtime.bigint();
  await app.get(BatchService).createBatch('bench_customer', items);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await app.close();
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ seconds, peakRssMb }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
