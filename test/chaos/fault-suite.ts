/**
 * The randomized fault suite: fast-check model-based commands drive the module on a private PostgreSQL
 * cluster with real child processes through random sequences of creates, runs, reprocesses, corrections
 * and faults (SIGKILL, SIGSTOP, pg_terminate_backend, the server stopped or killed); then the system is
 * left to settle and the invariants are checked. Every sequence is a seed and a path: replay one with
 * `npm run chaos -- --seed S --path P`.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import fc from 'fast-check';
import {
  BatchService,
  SourceRow,
  type BatchSummary,
  type ReliableImportsModuleOptions,
} from '../../lib';
import {
  BATCH_TYPE,
  ChaosRowProcessor,
  chaosAppModule,
  FAILING,
  supportsItemTimeout,
  type ChaosRow,
  type FailMode,
  type TextKind,
} from './chaos-processor';
import { signalChild } from './children';
import {
  childReprocessWithCorrectionsCommand,
  correctItemsCommand,
  fileRoundTripCommand,
  reprocessWithCorrectionsCommand,
} from './recovery-commands';
import { checkRecovery } from './recovery-invariants';
import {
  approveCommand,
  budgetProcessCommand,
  cancelCommand,
  dryRunCommand,
  inlineBudgetProcessCommand,
  pauseCommand,
  resumeCommand,
} from './control-commands';
import {
  bringToRest,
  checkBeforeRest,
  checkControl,
  completeCancelled,
} from './control-invariants';
import { compileChild } from './compile';
import { openPrivateCluster, type PrivateCluster } from './cluster';
import { sleep } from '../support/timing';
import { ENDED_BATCH_STATUSES } from '../../lib/statuses';
import {
  avoiding,
  childConfig,
  chooseBatch,
  command,
  END_GRACE_MS,
  errorText,
  failedOnly,
  isOutage,
  ITEM_PAUSE_MS,
  ITEM_TIMEOUT_MS,
  LEASE_MS,
  live,
  note,
  query,
  SETTLE_CALL_TIMEOUT_MS,
  short,
  spawnChild,
  withTimeout,
  type Command,
  type Model,
  type Real,
} from './suite-kit';

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

const createArguments = {
  rows: fc.array(rowSpec, { minLength: 10, maxLength: 40 }),
  key: fc.option(fc.constantFrom('key-a', 'key-b'), { freq: 2 }),
  twice: fc.boolean(),
};

const createCommand = fc.record(createArguments).map(({ rows, key, twice }) =>
  command(
    `create ${rows.length} rows [${rows.map((r) => (r.fail ?? '.')[0] + r.text[0]).join(' ')}]${key ? ` key=${key}` : ''}${twice ? ' twice' : ''}`,
    async (model, real) => {
      const data = chaosRows(rows, real);
      await create(model, real, data, JSON.stringify(data), key, twice);
    },
  ),
);

/** Sometimes with `requireApproval`: the batch waits until it is approved (or rejected). */
const requireApproval = fc.oneof(
  { arbitrary: fc.constant(false), weight: 3 },
  { arbitrary: fc.constant(true), weight: 1 },
);

const createMaybeAwaitingCommand = fc
  .record({ ...createArguments, requireApproval })
  .map(({ rows, key, twice, requireApproval }) =>
    command(
      `create ${rows.length} rows [${rows.map((r) => (r.fail ?? '.')[0] + r.text[0]).join(' ')}]${key ? ` key=${key}` : ''}${twice ? ' twice' : ''}${requireApproval ? ' requireApproval' : ''}`,
      async (model, real) => {
        const data = chaosRows(rows, real);
        await create(model, real, data, JSON.stringify(data), key, twice, requireApproval);
      },
    ),
  );

/** The rows of a batch as the processor reads them (n is the row's index: the suite relies on it). */
function chaosRows(rows: RowSpec[], real: Real): ChaosRow[] {
  return rows.map((row, n) => ({
    n,
    fail: row.fail === 'hang' && real.itemTimeoutMs === undefined ? 'throw' : row.fail,
    text: avoiding('hostile-texts') ? 'plain' : row.text,
  }));
}

/** The columns of a file batch, as a CSV header would give them. */
const FILE_COLUMNS = ['n', 'fail', 'text'] as const;

/**
 * A batch read from a file: each row with its line (a quoted cell that spans lines leaves a gap), and a
 * line or two that could not be read, kept as failed rows with the cells that could be read (none to all
 * three, as a ragged line gives them).
 */
const createFromFileCommand = fc
  .record({
    rows: fc.array(rowSpec, { minLength: 10, maxLength: 40 }),
    key: fc.option(fc.constantFrom('key-a', 'key-b'), { freq: 2 }),
    twice: fc.boolean(),
    gaps: fc.array(fc.nat({ max: 1000 }), { maxLength: 3 }),
    malformed: fc.array(
      fc.record({ at: fc.nat({ max: 1000 }), cells: fc.integer({ min: 0, max: 3 }) }),
      { minLength: 1, maxLength: 2 },
    ),
  })
  .map(({ rows, key, twice, gaps, malformed }) =>
    command(
      `create ${rows.length} rows of a file [${rows.map((r) => (r.fail ?? '.')[0] + r.text[0]).join(' ')}] gaps before [${gaps.join(' ')}] unreadable lines [${malformed.map((m) => `${m.at}:${m.cells}`).join(' ')}]${key ? ` key=${key}` : ''}${twice ? ' twice' : ''}`,
      async (model, real) => {
        const gapBefore = new Set(gaps.map((at) => at % rows.length));
        const unreadable = new Map(malformed.map((m) => [m.at % rows.length, m.cells]));
        let line = 1;
        const data = chaosRows(rows, real).map((row, n) => {
          line += gapBefore.has(n) ? 2 : 1;
          const cells = unreadable.get(n);
          if (cells === undefined) return new SourceRow(line, row, null, FILE_COLUMNS);
          const readable = Object.fromEntries(
            FILE_COLUMNS.slice(0, cells).map((column) => [column, row[column]]),
          );
          const raw = [...FILE_COLUMNS.map((column) => String(row[column] ?? '')), 'extra'].slice(
            0,
            cells === 3 ? 4 : cells,
          );
          return new SourceRow(
            line,
            readable,
            { reason: `${raw.length} fields where the header has 3`, raw: raw.join(',') },
            FILE_COLUMNS,
          );
        });
        await create(model, real, data, JSON.stringify(data), key, twice);
      },
    ),
  );

async function create(
  model: Model,
  real: Real,
  data: Array<ChaosRow | SourceRow<object>>,
  content: string,
  key: string | null,
  twice: boolean,
  requireApproval = false,
): Promise<void> {
  for (let attempt = 0; attempt < (twice ? 2 : 1); attempt++) {
    const known = key ? model.keys.get(key) : undefined;
    try {
      const batch = await real.batches.createBatch(BATCH_TYPE, data, {
        idempotencyKey: key ?? undefined,
        ...(requireApproval ? { requireApproval } : {}),
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
          model.runs.push({
            batchId,
            concurrency: args.concurrency,
            commitEvery: args.commitEvery,
            budget: null,
          });
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
        const call = { batchId, set: null, startedAt: Date.now(), endedAt: Infinity };
        model.reprocesses.push(call);
        const child = spawnChild(
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
        void child.exit.then(() => (call.endedAt = Date.now()));
      },
      (model) => model.created.length > 0,
    ),
  );

const workerCommand = fc
  .record({ concurrency, lifetimeMs: fc.integer({ min: 1500, max: 5000 }) })
  .map((args) =>
    command(`worker concurrency=${args.concurrency} for ${args.lifetimeMs} ms`, (model, real) => {
      model.workerRan = true;
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
        model.runs.push({
          batchId,
          concurrency: args.concurrency,
          commitEvery: args.commitEvery,
          budget: null,
        });
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
      async (model, real) => {
        const batchId = await chooseBatch(real, args.pick, true);
        if (!batchId) return;
        const call = { batchId, set: null, startedAt: Date.now(), endedAt: Infinity };
        model.reprocesses.push(call);
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
        call.endedAt = Date.now();
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
        // n is the row's index (a line that could not be read may have no n in its data).
        `SELECT id, COALESCE(original_item_id, id) AS root, batch_id, item_index AS n
         FROM import_batch_items WHERE status IN ('failed', 'skipped', 'cancelled') ORDER BY created_at, batch_id, item_index`,
      );
    } catch (error) {
      note(real, `  no candidates: ${errorText(error)}`);
      return;
    }
    if (candidates.length === 0) return;
    const item = candidates[args.pick % candidates.length];
    const mark = `c${model.nextMark++}`;
    const data: ChaosRow = { n: item.n, fail: null, text: 'plain', mark };
    const correction = {
      itemId: item.id,
      rootId: item.root,
      batchId: item.batch_id,
      mark,
      startedAt: Date.now(),
    };
    try {
      await real.batches.correctItem(item.id, data);
      model.corrections.push({ ...correction, endedAt: Date.now(), outcome: 'accepted' });
      note(
        real,
        `  correction ${mark} of item ${short(item.id)} (batch ${short(item.batch_id)}) accepted`,
      );
    } catch (error) {
      // A connection cut as the transaction committed leaves the correction stored, or not.
      if (isOutage(error))
        model.corrections.push({ ...correction, endedAt: Infinity, outcome: 'unknown' });
      note(real, `  correction ${mark} refused: ${errorText(error)}`);
    }
  }),
);

const awaitCommand = fc.integer({ min: 2000, max: 15_000 }).map((maxMs) =>
  command(`await the children (at most ${maxMs} ms)`, async (_model, real) => {
    // withTimeout clears its timer: a sleep left pending would hold the process up to its end.
    await withTimeout(Promise.all(live(real).map((child) => child.exit)), maxMs);
  }),
);

/**
 * The commands of each version of the suite. A regression's seed and path replay a sequence only with the
 * commands it was found with: a new command changes every choice fast-check makes, so a new version
 * adds to a new list, and the old lists stay as they were.
 */
export const commandSets = {
  /** Creates, runs, reprocesses, single corrections and faults. */
  1: {
    first: createCommand.map((create) => [create]),
    commands: [
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
    ],
  },
  /** And recovery at file scale: batches with lines, sets of corrections, a failures file given back. */
  2: {
    // Mostly processed at once, so that the sequence's recovery commands find failures to recover.
    first: fc.tuple(
      fc.oneof(createCommand, createFromFileCommand),
      fc.oneof(
        { arbitrary: inlineProcessCommand, weight: 3 },
        { arbitrary: waitCommand, weight: 1 },
      ),
    ),
    commands: [
      createCommand,
      createFromFileCommand,
      processCommand,
      processCommand,
      processCommand,
      reprocessCommand,
      reprocessCommand,
      workerCommand,
      inlineProcessCommand,
      inlineProcessCommand,
      inlineReprocessCommand,
      correctCommand,
      correctItemsCommand,
      correctItemsCommand,
      reprocessWithCorrectionsCommand,
      childReprocessWithCorrectionsCommand,
      fileRoundTripCommand,
      fileRoundTripCommand,
      waitCommand,
      killCommand,
      freezeCommand,
      terminateCommand,
      serverCommand,
      awaitCommand,
    ],
  },
  /**
   * And operator control (issue 13): pause, resume (after corrections, with `retryFailed`) and cancel, here
   * and from other processes, while children run and faults happen; runs with an error budget; batches
   * that wait for approval, approved or rejected; dry runs.
   */
  3: {
    // Mostly run at once, often with a budget, so that there are runs to pause and budgets to spend.
    first: fc.tuple(
      fc.oneof(createMaybeAwaitingCommand, createFromFileCommand),
      fc.oneof(
        { arbitrary: budgetProcessCommand, weight: 2 },
        { arbitrary: processCommand, weight: 1 },
        { arbitrary: inlineBudgetProcessCommand, weight: 1 },
        { arbitrary: inlineProcessCommand, weight: 1 },
      ),
    ),
    commands: [
      createMaybeAwaitingCommand,
      createFromFileCommand,
      processCommand,
      processCommand,
      budgetProcessCommand,
      budgetProcessCommand,
      reprocessCommand,
      workerCommand,
      inlineProcessCommand,
      inlineBudgetProcessCommand,
      inlineReprocessCommand,
      correctCommand,
      correctItemsCommand,
      reprocessWithCorrectionsCommand,
      fileRoundTripCommand,
      pauseCommand,
      pauseCommand,
      pauseCommand,
      resumeCommand,
      resumeCommand,
      cancelCommand,
      cancelCommand,
      approveCommand,
      dryRunCommand,
      waitCommand,
      killCommand,
      freezeCommand,
      terminateCommand,
      serverCommand,
      awaitCommand,
    ],
  },
} satisfies Record<number, { first: fc.Arbitrary<Command[]>; commands: fc.Arbitrary<Command>[] }>;

export type CommandSet = keyof typeof commandSets;

/**
 * How long the processor spends on a row in each set's sequences: longer from set 3, so that a pause or a
 * cancel finds runs with rows in flight more often.
 */
const ITEM_PAUSE_BY_SET: Record<CommandSet, number> = { 1: ITEM_PAUSE_MS, 2: ITEM_PAUSE_MS, 3: 20 };

/** The commands random sequences are made of now. */
export const LATEST_COMMAND_SET: CommandSet = 3;

// ---------------------------------------------------------------------------------------------------
// Settling and the invariants

async function stopTheWorld(real: Real): Promise<void> {
  for (const child of live(real)) {
    signalChild(child, 'SIGKILL');
    signalChild(child, 'SIGCONT');
  }
  await Promise.all(real.children.map((child) => child.exit));
}

/**
 * Runs processBatch on every batch that is runnable until none is (each leaves its leases to expire
 * first: the caller waits for the leases of the sequence's runs). Returns the batches that could not be settled, with their last error.
 */
async function settle(real: Real): Promise<Map<string, string>> {
  const stuck = new Map<string, string>();
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
    cancelled_items: number;
    rows: number;
    pending: number;
    processing: number;
    completed: number;
    failed: number;
    skipped: number;
    cancelled: number;
  }>(
    real,
    `SELECT b.id, b.status, b.parent_batch_id, b.error_message, b.total_items, b.completed_items,
            b.failed_items, b.skipped_items, b.cancelled_items,
            count(i.id)::int AS rows,
            (count(*) FILTER (WHERE i.status = 'pending'))::int AS pending,
            (count(*) FILTER (WHERE i.status = 'processing'))::int AS processing,
            (count(*) FILTER (WHERE i.status = 'completed'))::int AS completed,
            (count(*) FILTER (WHERE i.status = 'failed'))::int AS failed,
            (count(*) FILTER (WHERE i.status = 'skipped'))::int AS skipped,
            (count(*) FILTER (WHERE i.status = 'cancelled'))::int AS cancelled
     FROM import_batches b LEFT JOIN import_batch_items i ON i.batch_id = b.id
     GROUP BY b.id ORDER BY b.created_at, b.id`,
  );
  for (const b of batches) {
    const terminal = (ENDED_BATCH_STATUSES as readonly string[]).includes(b.status);
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
      const counters = [
        b.total_items,
        b.completed_items,
        b.failed_items,
        b.skipped_items,
        b.cancelled_items,
      ];
      const counted = [b.rows, b.completed, b.failed, b.skipped, b.cancelled];
      if (counters.join() !== counted.join()) {
        v.push(
          `batch ${b.id} (${b.status}) counters total/completed/failed/skipped/cancelled ${counters.join('/')} but its rows say ${counted.join('/')}`,
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
      summary.cancelledItems,
    ];
    const rows = [
      b.status,
      b.rows,
      b.pending,
      b.processing,
      b.completed,
      b.failed,
      b.skipped,
      b.cancelled,
    ];
    if (said.join() !== rows.join())
      v.push(`getBatchSummary(${b.id}) says ${said.join('/')} but the rows say ${rows.join('/')}`);
  }

  // Reasons stored.
  const unexplained = await query<{ id: string; status: string }>(
    real,
    `SELECT id, status FROM import_batch_items WHERE status IN ('failed', 'skipped', 'cancelled') AND COALESCE(error_message, '') = ''`,
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
    cancelled_items: number;
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
          row.cancelled_items,
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
      b.cancelled,
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

  // Every accepted correction used (or it should have been refused). A later correction of the same
  // source row replaces an earlier one: the row must then run on the later one. Later: any that may
  // have been stored after this one was (its call had not returned when this one's began).
  for (const correction of model.corrections) {
    if (correction.outcome !== 'accepted') continue;
    const marks = model.corrections
      .filter(
        (other) =>
          other.rootId === correction.rootId &&
          (other === correction || other.endedAt > correction.startedAt),
      )
      .map((other) => other.mark);
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

  await checkRecovery(model, real);
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
export async function runSequence(
  suite: SuiteContext,
  commands: Iterable<Command>,
  itemPauseMs = ITEM_PAUSE_MS,
): Promise<void> {
  const database = `chaos_${process.pid}_${++suite.sequence}`;
  const url = await suite.cluster.createDatabase(database);
  const app = await openApp(url, suite.itemTimeoutMs);
  app.get(ChaosRowProcessor).pauseMs = itemPauseMs;
  const model: Model = {
    created: [],
    keys: new Map(),
    stopRuns: new Set(),
    stopReprocessOf: new Set(),
    corrections: [],
    nextMark: 1,
    sets: [],
    reprocesses: [],
    runs: [],
    workerRan: false,
    controls: [],
  };
  const real: Real = {
    cluster: suite.cluster,
    url,
    app,
    batches: app.get(BatchService),
    children: [],
    itemTimeoutMs: suite.itemTimeoutMs,
    itemPauseMs,
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
    await withTimeout(Promise.all(live(real).map((child) => child.exit)), END_GRACE_MS);
    note(real, 'settling');
    await stopTheWorld(real);
    await suite.cluster.ensureRunning();
    // Every lease ends, then the batches that wait are checked and let go.
    await sleep(LEASE_MS + 300);
    await checkBeforeRest(model, real);
    await bringToRest(model, real);
    const stuck = await settle(real);
    const corrections =
      stuck.size === 0 ? await useCorrections(model, real) : new Map<string, string>();
    if (stuck.size === 0) await completeCancelled(real);
    const stuckAfter = corrections.size > 0 ? await settle(real) : stuck;
    await checkInvariants(model, real, stuckAfter, corrections);
    await checkControl(real);
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
export function faultProperty(
  suite: SuiteContext,
  maxCommands = 8,
  commandSet: CommandSet = LATEST_COMMAND_SET,
) {
  const { first, commands } = commandSets[commandSet];
  // Every sequence starts with a batch, so that its commands have something to work on.
  return fc.asyncProperty(
    first,
    fc.commands(commands, { maxCommands, size: 'max' }),
    (first, commands) => runSequence(suite, [...first, ...commands], ITEM_PAUSE_BY_SET[commandSet]),
  );
}

/** fast-check's parameters of a run: `path` replays one sequence of `seed` exactly. */
export function runParameters(options: {
  seed?: number;
  path?: string;
  runs?: number;
}): fc.Parameters<[Command[], Iterable<Command>]> {
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
