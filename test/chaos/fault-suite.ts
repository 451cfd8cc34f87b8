/**
 * The randomized fault suite: fast-check model-based commands drive the module on a private PostgreSQL
 * cluster with real child processes through random sequences of creates, runs, reprocesses, corrections
 * and faults (SIGKILL, SIGSTOP, pg_terminate_backend, the server stopped or killed); then the system is
 * left to settle and the invariants are checked. Every sequence is a seed and a path: replay one with
 * `npm run chaos -- --seed S --path P`.
 */
import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import fc from 'fast-check';
import { BatchService, type BatchSummary, type ReliableImportsModuleOptions } from '../../lib';
import {
  BATCH_TYPE,
  chaosAppModule,
  FAILING,
  supportsItemTimeout,
  type ChaosRow,
  type FailMode,
  type TextKind,
} from './chaos-processor';
import type { ChildConfig } from './chaos-child';
import { signalChild, startChild, type ChaosChild } from './children';
import { compileChild } from './compile';
import { openPrivateCluster, withClient, type PrivateCluster } from './cluster';

/** Every lease of the suite: short, so that settling after a kill is quick. */
export const LEASE_MS = 1500;
const ITEM_TIMEOUT_MS = 1500;
const ITEM_PAUSE_MS = 5;
/** How long the children may go on after the last command, before the rest are killed. */
const END_GRACE_MS = 10_000;
/** The longest a settling processBatch may take before the suite calls it hung. */
const SETTLE_CALL_TIMEOUT_MS = 45_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the suite knows of the sequence (the model of fast-check's model-based testing). */
export interface Model {
  /** Batches created by the sequence (roots of their trees). */
  created: string[];
  /** Idempotency key → the batch it made and the JSON of its rows. */
  keys: Map<string, { batchId: string; content: string }>;
  /** Batches run with continueOnError: false, and batches whose reprocess ran so. */
  stopRuns: Set<string>;
  stopReprocessOf: Set<string>;
  /** Accepted corrections in the order they were accepted. */
  corrections: Array<{ itemId: string; rootId: string; batchId: string; mark: string }>;
  nextMark: number;
}

/** The system under test, and what the run saw. */
export interface Real {
  cluster: PrivateCluster;
  url: string;
  app: INestApplicationContext;
  batches: BatchService;
  children: ChaosChild[];
  itemTimeoutMs: number | undefined;
  trace: string[];
  violations: string[];
  /** Batch ids seen, kept for when the server is down. */
  knownBatches: string[];
  childScript: string;
}

/**
 * CHAOS_AVOID=hostile-texts,reprocess-all steers around bugs already found, to look past them on code
 * that still has them: hostile texts become plain, and every reprocess takes failed rows only. The
 * generated sequences (seeds and paths) stay the same.
 */
export const avoiding = (what: 'hostile-texts' | 'reprocess-all'): boolean =>
  (process.env.CHAOS_AVOID ?? '').split(',').includes(what);

const failedOnly = (requested: boolean): boolean => requested || avoiding('reprocess-all');

const note = (real: Real, line: string) =>
  real.trace.push(`${new Date().toISOString().slice(11, 23)} ${line}`);

async function query<T>(real: Real, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(real.url, async (client) => (await client.query(sql, params)).rows as T[]);
}

async function refreshBatches(real: Real): Promise<string[]> {
  try {
    const rows = await query<{ id: string }>(
      real,
      'SELECT id FROM import_batches ORDER BY created_at, id',
    );
    real.knownBatches = rows.map((row) => row.id);
  } catch {
    // the server is down: what was known last
  }
  return real.knownBatches;
}

const short = (id: string) => id.slice(0, 8);

const errorText = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : String(error);

function childConfig(real: Real, config: Omit<ChildConfig, 'url' | 'leaseMs' | 'itemTimeoutMs'>) {
  return { ...config, url: real.url, leaseMs: LEASE_MS, itemTimeoutMs: real.itemTimeoutMs };
}

function spawnChild(real: Real, label: string, config: ChildConfig): void {
  const child = startChild(real.childScript, label, config, ITEM_PAUSE_MS);
  real.children.push(child);
  note(real, `child #${child.id} started: ${label}`);
  void child.exit.then(({ code, signal, last }) =>
    note(
      real,
      `child #${child.id} exited ${signal ?? code}: ${JSON.stringify(last)?.slice(0, 400)}`,
    ),
  );
}

const live = (real: Real) => real.children.filter((child) => !child.exited);

// ---------------------------------------------------------------------------------------------------
// Commands

type Command = fc.AsyncCommand<Model, Real>;

function command(
  describe: string,
  run: (model: Model, real: Real) => Promise<void> | void,
  check: (model: Model) => boolean = () => true,
): Command {
  return {
    check,
    run: async (model, real) => {
      note(real, `> ${describe}`);
      await run(model, real);
    },
    toString: () => describe,
  };
}

interface RowSpec {
  fail: FailMode | null;
  text: TextKind;
}

const rowSpec: fc.Arbitrary<RowSpec> = fc.record({
  fail: fc.oneof(
    { arbitrary: fc.constant(null), weight: 12 },
    {
      arbitrary: fc.constantFrom<FailMode>(
        'throw',
        'nonError',
        'skip',
        'invalid',
        'transient',
        'hang',
      ),
      weight: 6,
    },
  ),
  text: fc.oneof(
    { arbitrary: fc.constantFrom<TextKind>('plain', 'nul', 'surrogate', 'cutEmoji'), weight: 12 },
    { arbitrary: fc.constant<TextKind>('long'), weight: 1 },
  ),
});

const pick = fc.nat({ max: 1000 });
const concurrency = fc.integer({ min: 1, max: 4 });
const commitEvery = fc.constantFrom(1, 1, 3, 10);
const continueOnError = fc.oneof(
  { arbitrary: fc.constant(true), weight: 3 },
  { arbitrary: fc.constant(false), weight: 1 },
);

const createCommand = fc
  .record({
    rows: fc.array(rowSpec, { minLength: 10, maxLength: 40 }),
    key: fc.option(fc.constantFrom('key-a', 'key-b'), { freq: 2 }),
    twice: fc.boolean(),
  })
  .map(({ rows, key, twice }) =>
    command(
      `create ${rows.length} rows [${rows.map((r) => (r.fail ?? '.')[0] + r.text[0]).join(' ')}]${key ? ` key=${key}` : ''}${twice ? ' twice' : ''}`,
      async (model, real) => {
        const data: ChaosRow[] = rows.map((row, n) => ({
          n,
          fail: row.fail === 'hang' && real.itemTimeoutMs === undefined ? 'throw' : row.fail,
          text: avoiding('hostile-texts') ? 'plain' : row.text,
        }));
        const content = JSON.stringify(data);
        const known = key ? model.keys.get(key) : undefined;
        for (let attempt = 0; attempt < (twice ? 2 : 1); attempt++) {
          try {
            const batch = await real.batches.createBatch(BATCH_TYPE, data, {
              idempotencyKey: key ?? undefined,
            });
            note(real, `  created ${short(batch.id)}`);
            if (known && known.content !== content) {
              real.violations.push(
                `createBatch with key ${key} and other content returned batch ${batch.id} instead of an IdempotencyConflictError`,
              );
            } else if (known && known.batchId !== batch.id) {
              real.violations.push(`createBatch with key ${key} made a second batch ${batch.id}`);
            }
            if (!model.created.includes(batch.id)) model.created.push(batch.id);
            if (key && !known) model.keys.set(key, { batchId: batch.id, content });
          } catch (error) {
            note(real, `  create refused: ${errorText(error)}`);
            const conflict = (error as { code?: string }).code === 'IDEMPOTENCY_CONFLICT';
            if (!(known && known.content !== content && conflict) && !isOutage(error)) {
              real.violations.push(`createBatch failed: ${errorText(error)}`);
            }
          }
        }
      },
    ),
  );

/** An error of the suite's own faults (a terminated connection, a server down), not of the module. */
function isOutage(error: unknown): boolean {
  const text = errorText(error);
  return /terminat|ECONNREFUSED|ECONNRESET|Connection|connect|shutting down|57P0|the database system|timeout/i.test(
    text,
  );
}

async function chooseBatch(
  real: Real,
  index: number,
  preferEnded = false,
): Promise<string | undefined> {
  const all = await refreshBatches(real);
  if (preferEnded) {
    // A reprocess of a batch still running is only refused: prefer one that ended, when there is one.
    const ended = await query<{ id: string }>(
      real,
      `SELECT id FROM import_batches WHERE status IN ('completed', 'completed_with_errors', 'failed')
       ORDER BY created_at, id`,
    ).catch(() => []);
    if (ended.length > 0) return ended[index % ended.length].id;
  }
  return all.length === 0 ? undefined : all[index % all.length];
}

const processCommand = fc
  .record({
    pick,
    concurrency,
    commitEvery,
    continueOnError,
    processes: fc.integer({ min: 1, max: 2 }),
  })
  .map((args) =>
    command(
      `process batch#${args.pick} concurrency=${args.concurrency} commitEvery=${args.commitEvery} continueOnError=${args.continueOnError} processes=${args.processes}`,
      async (model, real) => {
        const batchId = await chooseBatch(real, args.pick);
        if (!batchId) return;
        if (!args.continueOnError) model.stopRuns.add(batchId);
        for (let p = 0; p < args.processes; p++) {
          spawnChild(
            real,
            `process ${short(batchId)}`,
            childConfig(real, {
              mode: 'process',
              batchId,
              concurrency: args.concurrency,
              commitEvery: args.commitEvery,
              continueOnError: args.continueOnError,
            }),
          );
        }
      },
      (model) => model.created.length > 0,
    ),
  );

const reprocessCommand = fc
  .record({ pick, concurrency, commitEvery, continueOnError, failedItemsOnly: fc.boolean() })
  .map((args) =>
    command(
      `reprocess batch#${args.pick} failedItemsOnly=${args.failedItemsOnly} concurrency=${args.concurrency} commitEvery=${args.commitEvery} continueOnError=${args.continueOnError}`,
      async (model, real) => {
        const batchId = await chooseBatch(real, args.pick, true);
        if (!batchId) return;
        if (!args.continueOnError) model.stopReprocessOf.add(batchId);
        spawnChild(
          real,
          `reprocess ${short(batchId)}`,
          childConfig(real, {
            mode: 'reprocess',
            batchId,
            concurrency: args.concurrency,
            commitEvery: args.commitEvery,
            continueOnError: args.continueOnError,
            failedItemsOnly: failedOnly(args.failedItemsOnly),
          }),
        );
      },
      (model) => model.created.length > 0,
    ),
  );

const workerCommand = fc
  .record({ concurrency, lifetimeMs: fc.integer({ min: 1500, max: 5000 }) })
  .map((args) =>
    command(`worker concurrency=${args.concurrency} for ${args.lifetimeMs} ms`, (_model, real) => {
      spawnChild(
        real,
        'worker',
        childConfig(real, {
          mode: 'worker',
          concurrency: args.concurrency,
          commitEvery: 1,
          continueOnError: true,
          lifetimeMs: args.lifetimeMs,
        }),
      );
    }),
  );

const inlineProcessCommand = fc
  .record({ pick, concurrency, commitEvery, continueOnError })
  .map((args) =>
    command(
      `processBatch here on batch#${args.pick} concurrency=${args.concurrency} commitEvery=${args.commitEvery} continueOnError=${args.continueOnError}`,
      async (model, real) => {
        const batchId = await chooseBatch(real, args.pick);
        if (!batchId) return;
        if (!args.continueOnError) model.stopRuns.add(batchId);
        const outcome = await withTimeout(
          real.batches
            .processBatch(batchId, {
              concurrency: args.concurrency,
              commitEvery: args.commitEvery,
              continueOnError: args.continueOnError,
            })
            .then(
              (summary) => `ended ${summary.status}`,
              (error: unknown) => `threw ${errorText(error)}`,
            ),
          SETTLE_CALL_TIMEOUT_MS,
        );
        note(real, `  ${short(batchId)}: ${outcome}`);
        if (outcome === 'timeout') real.violations.push(`processBatch(${batchId}) never settled`);
      },
      (model) => model.created.length > 0,
    ),
  );

const inlineReprocessCommand = fc
  .record({ pick, failedItemsOnly: fc.boolean(), concurrency, commitEvery })
  .map((args) =>
    command(
      `reprocessBatch here on batch#${args.pick} failedItemsOnly=${args.failedItemsOnly} concurrency=${args.concurrency} commitEvery=${args.commitEvery}`,
      async (_model, real) => {
        const batchId = await chooseBatch(real, args.pick, true);
        if (!batchId) return;
        const outcome = await withTimeout(
          real.batches
            .reprocessBatch(batchId, {
              failedItemsOnly: failedOnly(args.failedItemsOnly),
              concurrency: args.concurrency,
              commitEvery: args.commitEvery,
            })
            .then(
              (summary) => `child ${short(summary.batchId)} ended ${summary.status}`,
              (error: unknown) => `threw ${errorText(error)}`,
            ),
          SETTLE_CALL_TIMEOUT_MS,
        );
        note(real, `  ${short(batchId)}: ${outcome}`);
        if (outcome === 'timeout') real.violations.push(`reprocessBatch(${batchId}) never settled`);
      },
      (model) => model.created.length > 0,
    ),
  );

const waitCommand = fc.integer({ min: 100, max: 3000 }).map((ms) =>
  command(`wait ${ms} ms`, async () => {
    await sleep(ms);
  }),
);

const killCommand = fc.record({ pick, afterMs: fc.integer({ min: 0, max: 2500 }) }).map((args) =>
  command(`SIGKILL child#${args.pick} after ${args.afterMs} ms`, async (_model, real) => {
    await sleep(args.afterMs);
    const alive = live(real);
    if (alive.length === 0) return;
    const child = alive[args.pick % alive.length];
    note(real, `  SIGKILL child #${child.id}`);
    signalChild(child, 'SIGKILL');
  }),
);

const freezeCommand = fc
  .record({
    pick,
    afterMs: fc.integer({ min: 0, max: 2000 }),
    ms: fc.integer({ min: 500, max: 4000 }),
  })
  .map((args) =>
    command(
      `SIGSTOP child#${args.pick} after ${args.afterMs} ms for ${args.ms} ms`,
      async (_model, real) => {
        await sleep(args.afterMs);
        const alive = live(real);
        if (alive.length === 0) return;
        const child = alive[args.pick % alive.length];
        note(real, `  SIGSTOP child #${child.id}`);
        child.stopped = signalChild(child, 'SIGSTOP');
        await sleep(args.ms);
        signalChild(child, 'SIGCONT');
        child.stopped = false;
      },
    ),
  );

const terminateCommand = fc.integer({ min: 0, max: 2000 }).map((afterMs) =>
  command(
    `pg_terminate_backend of the module's connections after ${afterMs} ms`,
    async (_model, real) => {
      await sleep(afterMs);
      try {
        const rows = await query<{ pid: number }>(
          real,
          `SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        note(real, `  terminated ${rows.length} backend(s)`);
      } catch (error) {
        note(real, `  terminate failed: ${errorText(error)}`);
      }
    },
  ),
);

const serverCommand = fc
  .record({
    how: fc.constantFrom('stop -m immediate', 'kill -9'),
    afterMs: fc.integer({ min: 0, max: 2000 }),
    downMs: fc.integer({ min: 200, max: 3000 }),
  })
  .map((args) =>
    command(
      `PostgreSQL ${args.how} after ${args.afterMs} ms, down for ${args.downMs} ms`,
      async (_model, real) => {
        await sleep(args.afterMs);
        if (args.how === 'kill -9') real.cluster.killPostmaster();
        else real.cluster.stopImmediate();
        await sleep(args.downMs);
        await real.cluster.ensureRunning();
        note(real, '  server up again');
      },
    ),
  );

const correctCommand = fc.record({ pick }).map((args) =>
  command(`correct failed item#${args.pick}`, async (model, real) => {
    let candidates: Array<{ id: string; root: string; batch_id: string; n: number }>;
    try {
      candidates = await query(
        real,
        `SELECT id, COALESCE(original_item_id, id) AS root, batch_id, (source_data->>'n')::int AS n
         FROM import_batch_items WHERE status IN ('failed', 'skipped') ORDER BY created_at, batch_id, item_index`,
      );
    } catch (error) {
      note(real, `  no candidates: ${errorText(error)}`);
      return;
    }
    if (candidates.length === 0) return;
    const item = candidates[args.pick % candidates.length];
    const mark = `c${model.nextMark++}`;
    const data: ChaosRow = { n: item.n, fail: null, text: 'plain', mark };
    try {
      await real.batches.correctItem(item.id, data);
      model.corrections.push({ itemId: item.id, rootId: item.root, batchId: item.batch_id, mark });
      note(
        real,
        `  correction ${mark} of item ${short(item.id)} (batch ${short(item.batch_id)}) accepted`,
      );
    } catch (error) {
      note(real, `  correction ${mark} refused: ${errorText(error)}`);
    }
  }),
);

const awaitCommand = fc.integer({ min: 2000, max: 15_000 }).map((maxMs) =>
  command(`await the children (at most ${maxMs} ms)`, async (_model, real) => {
    await Promise.race([Promise.all(live(real).map((child) => child.exit)), sleep(maxMs)]);
  }),
);

export const commandArbitraries = [
  createCommand,
  createCommand,
  processCommand,
  processCommand,
  processCommand,
  reprocessCommand,
  reprocessCommand,
  reprocessCommand,
  workerCommand,
  inlineProcessCommand,
  inlineProcessCommand,
  inlineReprocessCommand,
  correctCommand,
  correctCommand,
  waitCommand,
  killCommand,
  freezeCommand,
  terminateCommand,
  serverCommand,
  awaitCommand,
];

// ---------------------------------------------------------------------------------------------------
// Settling and the invariants

async function stopTheWorld(real: Real): Promise<void> {
  for (const child of live(real)) {
    signalChild(child, 'SIGKILL');
    signalChild(child, 'SIGCONT');
  }
  await Promise.all(real.children.map((child) => child.exit));
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs processBatch on every batch that is not terminal until all are (each leaves its leases to expire
 * first). Returns the batches that could not be settled, with their last error.
 */
async function settle(real: Real): Promise<Map<string, string>> {
  const stuck = new Map<string, string>();
  await sleep(LEASE_MS + 300);
  for (let round = 0; round < 6; round++) {
    const open = await query<{ id: string }>(
      real,
      `SELECT id FROM import_batches WHERE status IN ('pending', 'processing') ORDER BY created_at, id`,
    );
    if (open.length === 0) return new Map();
    for (const { id } of open) {
      const outcome = await withTimeout(
        real.batches.processBatch(id, { concurrency: 2 }).then(
          (summary: BatchSummary) => `ended ${summary.status}`,
          (error: unknown) => `threw ${errorText(error)}`,
        ),
        SETTLE_CALL_TIMEOUT_MS,
      );
      note(real, `  settle ${short(id)}: ${outcome === 'timeout' ? 'no answer (hung)' : outcome}`);
      stuck.set(id, outcome === 'timeout' ? 'processBatch never settled' : outcome);
      if (outcome === 'timeout') return stuck;
    }
    await sleep(LEASE_MS + 300);
  }
  const open = await query<{ id: string }>(
    real,
    `SELECT id FROM import_batches WHERE status IN ('pending', 'processing')`,
  );
  return new Map(open.map(({ id }) => [id, stuck.get(id) ?? '?']));
}

/** Reprocesses the batch of every accepted correction that no completed copy has used yet. */
async function useCorrections(model: Model, real: Real): Promise<Map<string, string>> {
  const outcomes = new Map<string, string>();
  const last = new Map<string, Model['corrections'][number]>();
  for (const correction of model.corrections) last.set(correction.rootId, correction);
  for (const correction of last.values()) {
    const [used] = await query(
      real,
      'SELECT 1 FROM chaos_applied WHERE root_id = $1 AND mark = $2',
      [correction.rootId, correction.mark],
    );
    if (used) continue;
    const outcome = await withTimeout(
      real.batches.reprocessBatch(correction.batchId, { failedItemsOnly: true }).then(
        (summary) => `reprocess ended ${summary.status}`,
        (error: unknown) => `reprocess threw ${errorText(error)}`,
      ),
      SETTLE_CALL_TIMEOUT_MS,
    );
    note(real, `  use correction ${correction.mark}: ${outcome}`);
    outcomes.set(correction.mark, String(outcome));
  }
  return outcomes;
}

async function checkInvariants(
  model: Model,
  real: Real,
  stuck: Map<string, string>,
  corrections: Map<string, string>,
) {
  const v = real.violations;
  for (const [id, why] of stuck) v.push(`batch ${id} is still not terminal after settling: ${why}`);

  // Applied at most once per source row in its tree, exactly once when a copy completed.
  const roots = await query<{
    root: string;
    completed: number;
    applied: number;
    bad: string | null;
  }>(
    real,
    `WITH copies AS (
       SELECT COALESCE(original_item_id, id) AS root,
              count(*) FILTER (WHERE status = 'completed')::int AS completed
       FROM import_batch_items GROUP BY 1),
     applied AS (
       SELECT root_id, count(*)::int AS applied,
              string_agg(fail, ',') FILTER (WHERE fail = ANY($1::text[])) AS bad
       FROM chaos_applied GROUP BY root_id)
     SELECT c.root, c.completed, COALESCE(a.applied, 0) AS applied, a.bad
     FROM copies c LEFT JOIN applied a ON a.root_id = c.root
     WHERE c.completed > 1 OR COALESCE(a.applied, 0) <> LEAST(c.completed, 1) OR a.bad IS NOT NULL`,
    [[...FAILING]],
  );
  for (const row of roots) {
    if (row.applied > 1 || row.completed > 1) {
      v.push(
        `source row ${row.root} applied ${row.applied} times (${row.completed} completed copies in its tree)`,
      );
    } else if (row.applied !== Math.min(row.completed, 1)) {
      v.push(
        `source row ${row.root}: ${row.completed} completed copies but applied ${row.applied} times`,
      );
    }
    if (row.bad) v.push(`source row ${row.root} was applied from data that must fail (${row.bad})`);
  }

  // Nothing stranded.
  const batches = await query<{
    id: string;
    status: string;
    parent_batch_id: string | null;
    error_message: string | null;
    total_items: number;
    completed_items: number;
    failed_items: number;
    skipped_items: number;
    rows: number;
    pending: number;
    processing: number;
    completed: number;
    failed: number;
    skipped: number;
  }>(
    real,
    `SELECT b.id, b.status, b.parent_batch_id, b.error_message, b.total_items, b.completed_items,
            b.failed_items, b.skipped_items,
            count(i.id)::int AS rows,
            (count(*) FILTER (WHERE i.status = 'pending'))::int AS pending,
            (count(*) FILTER (WHERE i.status = 'processing'))::int AS processing,
            (count(*) FILTER (WHERE i.status = 'completed'))::int AS completed,
            (count(*) FILTER (WHERE i.status = 'failed'))::int AS failed,
            (count(*) FILTER (WHERE i.status = 'skipped'))::int AS skipped
     FROM import_batches b LEFT JOIN import_batch_items i ON i.batch_id = b.id
     GROUP BY b.id ORDER BY b.created_at, b.id`,
  );
  for (const b of batches) {
    const terminal = ['completed', 'completed_with_errors', 'failed'].includes(b.status);
    if (b.processing > 0)
      v.push(`batch ${b.id} (${b.status}) holds ${b.processing} row(s) still processing`);
    const stop =
      b.status === 'failed' &&
      (b.error_message ?? '').startsWith('Stopped at item') &&
      (model.stopRuns.has(b.id) ||
        (b.parent_batch_id !== null && model.stopReprocessOf.has(b.parent_batch_id)));
    if (b.status === 'failed' && !stop) {
      v.push(
        `batch ${b.id} ended failed, though no run of it stopped on error: ${(b.error_message ?? '').slice(0, 200)}`,
      );
    }
    if (terminal && b.pending > 0 && !stop) {
      v.push(`terminal batch ${b.id} (${b.status}) holds ${b.pending} pending row(s)`);
    }
    if (terminal) {
      const counters = [b.total_items, b.completed_items, b.failed_items, b.skipped_items];
      const counted = [b.rows, b.completed, b.failed, b.skipped];
      if (counters.join() !== counted.join()) {
        v.push(
          `batch ${b.id} counters total/completed/failed/skipped ${counters.join('/')} but its rows say ${counted.join('/')}`,
        );
      }
    }
    const summary = await real.batches.getBatchSummary(b.id);
    const said = [
      summary.status,
      summary.totalItems,
      summary.pendingItems,
      summary.processingItems,
      summary.completedItems,
      summary.failedItems,
      summary.skippedItems,
    ];
    const rows = [b.status, b.rows, b.pending, b.processing, b.completed, b.failed, b.skipped];
    if (said.join() !== rows.join())
      v.push(`getBatchSummary(${b.id}) says ${said.join('/')} but the rows say ${rows.join('/')}`);
  }

  // Reasons stored.
  const unexplained = await query<{ id: string; status: string }>(
    real,
    `SELECT id, status FROM import_batch_items WHERE status IN ('failed', 'skipped') AND COALESCE(error_message, '') = ''`,
  );
  for (const row of unexplained) v.push(`${row.status} row ${row.id} has no reason stored`);

  // The views.
  const view = await query<{
    batch_id: string;
    total_items: number;
    pending_items: number;
    processing_items: number;
    completed_items: number;
    failed_items: number;
    skipped_items: number;
    status: string;
  }>(real, 'SELECT * FROM import_batch_summary');
  for (const b of batches) {
    const row = view.find((r) => r.batch_id === b.id);
    const said = row
      ? [
          row.status,
          row.total_items,
          row.pending_items,
          row.processing_items,
          row.completed_items,
          row.failed_items,
          row.skipped_items,
        ].join()
      : 'missing';
    const rows = [
      b.status,
      b.rows,
      b.pending,
      b.processing,
      b.completed,
      b.failed,
      b.skipped,
    ].join();
    if (said !== rows)
      v.push(`import_batch_summary for ${b.id} says ${said} but the rows say ${rows}`);
  }
  const report = await query<{
    batch_id: string;
    item_id: string | null;
    resolved: boolean | null;
    expected_resolved: boolean;
  }>(
    real,
    `SELECT r.batch_id, r.item_id, r.resolved,
            EXISTS (SELECT 1 FROM import_batch_items c
                    WHERE COALESCE(c.original_item_id, c.id) = COALESCE(i.original_item_id, i.id)
                      AND c.status = 'completed') AS expected_resolved
     FROM failed_imports_report r LEFT JOIN import_batch_items i ON i.id = r.item_id`,
  );
  const expectedReport = await query<{ batch_id: string; item_id: string }>(
    real,
    `SELECT b.id AS batch_id, i.id AS item_id FROM import_batches b
     JOIN import_batch_items i ON i.batch_id = b.id AND i.status IN ('failed', 'skipped')
     WHERE b.status IN ('failed', 'completed_with_errors')`,
  );
  const listed = new Set(report.filter((r) => r.item_id).map((r) => r.item_id));
  for (const row of expectedReport) {
    if (!listed.has(row.item_id))
      v.push(`failed_imports_report misses row ${row.item_id} of batch ${row.batch_id}`);
  }
  if (listed.size !== expectedReport.length)
    v.push(`failed_imports_report lists ${listed.size} rows, expected ${expectedReport.length}`);
  for (const row of report) {
    if (row.item_id && row.resolved !== row.expected_resolved) {
      v.push(
        `failed_imports_report says row ${row.item_id} resolved=${row.resolved}, the tree says ${row.expected_resolved}`,
      );
    }
  }

  // Every accepted correction used (or it should have been refused). A later accepted correction of
  // the same source row replaces an earlier one: the row must then run on the later one.
  for (const [index, correction] of model.corrections.entries()) {
    const marks = model.corrections
      .slice(index)
      .filter((later) => later.rootId === correction.rootId)
      .map((later) => later.mark);
    const [used] = await query(
      real,
      'SELECT 1 FROM chaos_applied WHERE root_id = $1 AND mark = ANY($2::text[])',
      [correction.rootId, marks],
    );
    if (!used) {
      const [applied] = await query<{ mark: string | null }>(
        real,
        'SELECT mark FROM chaos_applied WHERE root_id = $1 LIMIT 1',
        [correction.rootId],
      );
      v.push(
        `correction ${correction.mark} of item ${correction.itemId} (batch ${correction.batchId}) was accepted but never used` +
          `; the row was applied ${applied ? `from ${applied.mark ?? 'its original data'}` : 'never'}` +
          (corrections.has(correction.mark) ? `; ${corrections.get(correction.mark)}` : ''),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The property

export interface SuiteContext {
  cluster: PrivateCluster;
  itemTimeoutMs: number | undefined;
  sequence: number;
  childScript: string;
  /** Set CHAOS_VERBOSE=1 to print every sequence's trace. */
  verbose: boolean;
}

export async function openSuite(): Promise<SuiteContext> {
  const cluster = await openPrivateCluster();
  return {
    cluster,
    childScript: compileChild(),
    itemTimeoutMs: supportsItemTimeout() ? ITEM_TIMEOUT_MS : undefined,
    sequence: 0,
    verbose: process.env.CHAOS_VERBOSE === '1',
  };
}

async function openApp(url: string, itemTimeoutMs: number | undefined) {
  const options: ReliableImportsModuleOptions & { itemTimeoutMs?: number } = {
    leaseMs: LEASE_MS,
    retryDelayMs: 10,
    maxRetryDelayMs: 100,
  };
  if (itemTimeoutMs !== undefined) options.itemTimeoutMs = itemTimeoutMs;
  return NestFactory.createApplicationContext(chaosAppModule(url, options), { logger: false });
}

/** Runs one sequence of commands, settles, checks; throws with the violations and the trace. */
export async function runSequence(suite: SuiteContext, commands: Iterable<Command>): Promise<void> {
  const database = `chaos_${process.pid}_${++suite.sequence}`;
  const url = await suite.cluster.createDatabase(database);
  const app = await openApp(url, suite.itemTimeoutMs);
  const model: Model = {
    created: [],
    keys: new Map(),
    stopRuns: new Set(),
    stopReprocessOf: new Set(),
    corrections: [],
    nextMark: 1,
  };
  const real: Real = {
    cluster: suite.cluster,
    url,
    app,
    batches: app.get(BatchService),
    children: [],
    itemTimeoutMs: suite.itemTimeoutMs,
    trace: [],
    violations: [],
    knownBatches: [],
    childScript: suite.childScript,
  };
  let failed = true;
  let appClosed = false;
  try {
    await fc.asyncModelRun(() => ({ model, real }), commands);
    // The children get a moment to finish what the sequence started before the rest are killed.
    await Promise.race([Promise.all(live(real).map((child) => child.exit)), sleep(END_GRACE_MS)]);
    note(real, 'settling');
    await stopTheWorld(real);
    await suite.cluster.ensureRunning();
    const stuck = await settle(real);
    const corrections =
      stuck.size === 0 ? await useCorrections(model, real) : new Map<string, string>();
    const stuckAfter = corrections.size > 0 ? await settle(real) : stuck;
    await checkInvariants(model, real, stuckAfter, corrections);
    failed = real.violations.length > 0;
  } finally {
    await stopTheWorld(real);
    await suite.cluster.ensureRunning();
    // A processBatch that never settled would keep app.close() waiting.
    appClosed =
      (await withTimeout(
        app.close().then(() => true),
        10_000,
      )) === true;
    if (!failed || process.env.CHAOS_KEEP !== '1')
      await suite.cluster.dropDatabase(database).catch(() => undefined);
    if (suite.verbose || failed)
      process.stderr.write(`--- sequence ${database}\n${real.trace.join('\n')}\n`);
  }
  if (!appClosed) real.violations.push('app.close() did not return within 10 s');
  if (real.violations.length > 0) {
    const unique = [...new Set(real.violations)];
    throw new Error(
      `${unique.length} invariant violation(s) in ${database}:\n- ${unique.slice(0, 30).join('\n- ')}` +
        (unique.length > 30 ? `\n- ... and ${unique.length - 30} more` : ''),
    );
  }
}

/** The property: any sequence of up to `maxCommands` commands leaves the invariants true. */
export function faultProperty(suite: SuiteContext, maxCommands = 8) {
  // Every sequence starts with a batch, so that its commands have something to work on.
  return fc.asyncProperty(
    createCommand,
    fc.commands(commandArbitraries, { maxCommands, size: 'max' }),
    (first, commands) => runSequence(suite, [first, ...commands]),
  );
}

/** fast-check's parameters of a run: `path` replays one sequence of `seed` exactly. */
export function runParameters(options: {
  seed?: number;
  path?: string;
  runs?: number;
}): fc.Parameters<[Command, Iterable<Command>]> {
  return {
    seed: options.seed,
    path: options.path,
    numRuns: options.runs ?? 10,
    // Shrinking reruns real processes with real timing: too slow to be worth it, and the seed and path
    // of the failing sequence replay its commands exactly.
    endOnFailure: true,
    interruptAfterTimeLimit: undefined,
  };
}
