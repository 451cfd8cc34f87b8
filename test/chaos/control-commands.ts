/**
 * The fault suite's commands of operator control (issue 13): pause, resume and cancel a batch, here or from
 * a process of their own, at random moments (while children run it, while faults happen); resume after
 * correcting some failed rows, or with `retryFailed`; approve or reject a batch that waits; dry-run one;
 * and runs with an error budget, here and in children.
 */
import fc from 'fast-check';
import type { BatchStatus, ImportBatch } from '../../lib';
import { BATCH_STATUS, LIVE_BATCH_STATUSES, RUNNABLE_BATCH_STATUSES } from '../../lib/statuses';
import type { ChaosRow } from './chaos-processor';
import type { ControlAction, RunBudget } from './chaos-child';
import { sleep } from '../support/timing';
import {
  childConfig,
  chooseBatchIn,
  command,
  errorText,
  isOutage,
  note,
  query,
  SETTLE_CALL_TIMEOUT_MS,
  short,
  spawnChild,
  withTimeout,
  type ControlCall,
  type Model,
  type Real,
} from './suite-kit';

const pick = fc.nat({ max: 1000 });

/**
 * When an operator acts: after a while, or as soon as a run of the batch has a row in flight (a pause or
 * a cancel then lands among its claims, the case that matters most).
 */
type Moment = number | 'in flight';
const moment: fc.Arbitrary<Moment> = fc.oneof(
  { arbitrary: fc.constant<Moment>('in flight'), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 2500 }), weight: 1 },
);
const describeMoment = (at: Moment) =>
  at === 'in flight' ? 'once a row is in flight' : `after ${at} ms`;

/** The longest wait for a row of a batch in flight. */
const IN_FLIGHT_WAIT_MS = 4000;

/**
 * Waits for the moment, then chooses a batch in `statuses` (with a row in flight, for 'in flight'). A
 * child waits for the row in flight itself: it starts at once, and the suite goes on.
 */
async function batchAt(
  real: Real,
  index: number,
  at: Moment,
  statuses: readonly BatchStatus[],
  place: 'here' | 'child',
): Promise<string | undefined> {
  if (at === 'in flight' && place === 'child') return chooseBatchIn(real, index, statuses);
  if (at !== 'in flight') {
    await sleep(at);
    return chooseBatchIn(real, index, statuses);
  }
  const batchId = await chooseBatchIn(real, index, statuses);
  if (!batchId) return undefined;
  const until = Date.now() + IN_FLIGHT_WAIT_MS;
  while (Date.now() < until) {
    const [state] = await query<{ status: string; in_flight: boolean }>(
      real,
      `SELECT status, EXISTS (SELECT 1 FROM import_batch_items
                              WHERE batch_id = $1 AND status = 'processing') AS in_flight
       FROM import_batches WHERE id = $1`,
      [batchId],
    ).catch(() => []);
    if (state && (state.in_flight || !(statuses as readonly string[]).includes(state.status)))
      break;
    await sleep(15);
  }
  return batchId;
}
const where = fc.oneof(
  { arbitrary: fc.constant<'here' | 'child'>('here'), weight: 3 },
  { arbitrary: fc.constant<'here' | 'child'>('child'), weight: 2 },
);

/**
 * Reasons an operator may give: none, plain, or hostile (a NUL, a lone surrogate, SQL, a very long text).
 * None starts with "stopped:", the start of an error budget's reason: the suite tells a budget's pause by it.
 */
const REASONS = [
  'wrong file',
  'row \u0000 with a NUL',
  `moon ${'🌙'.slice(0, 1)} cut`,
  `'); DROP TABLE import_batches; --`,
  `${'long reason '.repeat(2000)}`,
] as const;
const reason = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.constantFrom(...REASONS), weight: 2 },
);
/** A cancel may also mimic an error budget's reason: it is stored after "cancelled: ". */
const cancelReason = fc.oneof(
  { arbitrary: reason, weight: 6 },
  { arbitrary: fc.constant('stopped: 9 of 9 rows failed (budget 1 failure)'), weight: 1 },
);

const describeReason = (text: string | undefined) =>
  text === undefined ? '' : ` reason "${JSON.stringify(text).slice(1, 30)}"`;

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/** An error of a control the suite expects: the status refused it, or a fault cut the call. */
function expected(error: unknown): boolean {
  return codeOf(error) === 'BATCH_STATUS_CONFLICT' || isOutage(error);
}

/**
 * Pauses, resumes or cancels a batch here or in a child, and records pauses and resumes for the fence
 * check. A pause or resume here records when it returned; from a child, when the child exited.
 */
async function control(
  model: Model,
  real: Real,
  batchId: string,
  action: ControlAction,
  at: 'here' | 'child',
): Promise<void> {
  const call: ControlCall | null =
    action.action === 'cancel'
      ? null
      : {
          batchId,
          action: action.action,
          startedAt: Date.now(),
          endedAt: Infinity,
          paused: false,
        };
  if (call) model.controls.push(call);
  const label = `${action.action} ${short(batchId)}${describeReason(action.reason)}${action.retryFailed ? ' retryFailed' : ''}`;
  if (at === 'child') {
    const child = spawnChild(
      real,
      label,
      childConfig(real, {
        mode: 'control',
        batchId,
        concurrency: 1,
        commitEvery: 1,
        continueOnError: true,
        control: action,
      }),
    );
    void child.exit.then(({ last }) => {
      const said = (last ?? {}) as { done?: boolean; status?: string; error?: unknown };
      if (call) {
        call.endedAt = Date.now();
        call.paused = said.done === true && said.status === BATCH_STATUS.paused;
      }
      if (said.done === false && said.error && !expected(said.error)) {
        real.violations.push(
          `${action.action}Batch(${batchId}) in a child threw ${JSON.stringify(said.error).slice(0, 300)}`,
        );
      }
    });
    return;
  }
  const outcome = await withTimeout(
    (action.action === 'pause'
      ? real.batches.pauseBatch(batchId, { reason: action.reason })
      : action.action === 'resume'
        ? real.batches.resumeBatch(batchId, { retryFailed: action.retryFailed })
        : real.batches.cancelBatch(batchId, { reason: action.reason })
    ).then(
      (batch: ImportBatch) => ({ batch }),
      (error: unknown) => ({ error }),
    ),
    SETTLE_CALL_TIMEOUT_MS,
  );
  if (call) call.endedAt = Date.now();
  if (outcome === 'timeout') {
    real.violations.push(`${action.action}Batch(${batchId}) never returned`);
    return;
  }
  if ('error' in outcome) {
    note(real, `  ${action.action} refused: ${errorText(outcome.error)}`);
    if (!expected(outcome.error))
      real.violations.push(`${action.action}Batch(${batchId}) threw ${errorText(outcome.error)}`);
    return;
  }
  const { status } = outcome.batch;
  note(real, `  ${short(batchId)} is ${status}`);
  if (call) call.paused = status === BATCH_STATUS.paused;
  const want = {
    pause: [BATCH_STATUS.paused],
    resume: RUNNABLE_BATCH_STATUSES,
    cancel: [BATCH_STATUS.cancelled],
  }[action.action] as readonly string[];
  if (!want.includes(status))
    real.violations.push(`${action.action}Batch(${batchId}) returned the batch ${status}`);
  if (action.action === 'cancel') {
    // Its pending rows were cancelled in the cancel's transaction, and no run gives one back pending.
    const [left] = await query<{ pending: number }>(
      real,
      `SELECT count(*)::int AS pending FROM import_batch_items WHERE batch_id = $1 AND status = 'pending'`,
      [batchId],
    ).catch(() => [{ pending: 0 }]);
    if (left.pending > 0)
      real.violations.push(`cancelBatch(${batchId}) returned with ${left.pending} row(s) pending`);
  }
}

export const pauseCommand = fc.record({ pick, at: moment, where, reason }).map((args) =>
  command(
    `pause batch#${args.pick} ${args.where} ${describeMoment(args.at)}${describeReason(args.reason)}`,
    async (model, real) => {
      const batchId = await batchAt(real, args.pick, args.at, RUNNABLE_BATCH_STATUSES, args.where);
      if (!batchId) return;
      const whenInFlight = args.at === 'in flight';
      await control(
        model,
        real,
        batchId,
        { action: 'pause', reason: args.reason, whenInFlight },
        args.where,
      );
    },
    (model) => model.created.length > 0,
  ),
);

export const cancelCommand = fc
  .record({ pick, at: moment, where, reason: cancelReason })
  .map((args) =>
    command(
      `cancel batch#${args.pick} ${args.where} ${describeMoment(args.at)}${describeReason(args.reason)}`,
      async (model, real) => {
        const batchId = await batchAt(real, args.pick, args.at, LIVE_BATCH_STATUSES, args.where);
        if (!batchId) return;
        const whenInFlight = args.at === 'in flight';
        await control(
          model,
          real,
          batchId,
          { action: 'cancel', reason: args.reason, whenInFlight },
          args.where,
        );
      },
      (model) => model.created.length > 0,
    ),
  );

/**
 * Resumes a paused batch (here or in a child), maybe with `retryFailed`, maybe after correcting some of its
 * failed rows (each correction must then be used: the resume runs them again), and maybe runs it here.
 */
export const resumeCommand = fc
  .record({
    pick,
    where,
    retryFailed: fc.oneof(
      { arbitrary: fc.constant(false), weight: 2 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    corrections: fc.array(pick, { maxLength: 3 }),
    runHere: fc.option(fc.integer({ min: 1, max: 4 }), { freq: 2 }),
  })
  .map((args) =>
    command(
      `resume batch#${args.pick} ${args.where}${args.retryFailed ? ' retryFailed' : ''}` +
        `${args.corrections.length > 0 ? ` after correcting failed rows [${args.corrections.join(' ')}]` : ''}` +
        `${args.runHere ? `, then processBatch here concurrency=${args.runHere}` : ''}`,
      async (model, real) => {
        const batchId = await chooseBatchIn(real, args.pick, [BATCH_STATUS.paused]);
        if (!batchId) return;
        await correctFailedRows(model, real, batchId, args.corrections);
        await control(
          model,
          real,
          batchId,
          { action: 'resume', retryFailed: args.retryFailed },
          args.where,
        );
        if (args.runHere) await processHere(model, real, batchId, args.runHere, 1, null);
      },
      (model) => model.created.length > 0,
    ),
  );

/** Corrects some failed rows of a batch with marked data that completes (replace), as an operator would. */
async function correctFailedRows(
  model: Model,
  real: Real,
  batchId: string,
  picks: number[],
): Promise<void> {
  if (picks.length === 0) return;
  const failed = await query<{ id: string; root: string; n: number }>(
    real,
    `SELECT id, COALESCE(original_item_id, id) AS root, item_index AS n
     FROM import_batch_items WHERE batch_id = $1 AND status = 'failed' ORDER BY item_index`,
    [batchId],
  ).catch(() => []);
  const done = new Set<string>();
  for (const at of picks) {
    if (failed.length === 0) return;
    const item = failed[at % failed.length];
    if (done.has(item.id)) continue;
    done.add(item.id);
    const mark = `c${model.nextMark++}`;
    const data: ChaosRow = { n: item.n, fail: null, text: 'plain', mark };
    const correction = { itemId: item.id, rootId: item.root, batchId, mark, startedAt: Date.now() };
    try {
      await real.batches.correctItem(item.id, data);
      model.corrections.push({ ...correction, endedAt: Date.now(), outcome: 'accepted' });
      note(real, `  correction ${mark} of item ${short(item.id)} accepted`);
    } catch (error) {
      if (isOutage(error))
        model.corrections.push({ ...correction, endedAt: Infinity, outcome: 'unknown' });
      note(real, `  correction ${mark} refused: ${errorText(error)}`);
    }
  }
}

export const approveCommand = fc
  .record({
    pick,
    reject: fc.oneof(
      { arbitrary: fc.constant(false), weight: 3 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    reason,
  })
  .map((args) =>
    command(
      `${args.reject ? `reject${describeReason(args.reason)}` : 'approve'} batch#${args.pick}`,
      async (_model, real) => {
        const batchId = await chooseBatchIn(real, args.pick, [BATCH_STATUS.awaitingApproval]);
        if (!batchId) return;
        try {
          const batch = args.reject
            ? await real.batches.rejectBatch(batchId, args.reason)
            : await real.batches.approveBatch(batchId);
          note(real, `  ${short(batchId)} is ${batch.status}`);
          const want = args.reject ? BATCH_STATUS.rejected : BATCH_STATUS.pending;
          if (batch.status !== want)
            real.violations.push(
              `${args.reject ? 'reject' : 'approve'}Batch(${batchId}) returned it ${batch.status}`,
            );
        } catch (error) {
          note(real, `  refused: ${errorText(error)}`);
          if (!expected(error))
            real.violations.push(
              `${args.reject ? 'reject' : 'approve'}Batch(${batchId}) threw ${errorText(error)}`,
            );
        }
      },
      (model) => model.created.length > 0,
    ),
  );

/** A dry run of a batch that waits (pending, awaiting approval, paused), maybe while others run it. */
export const dryRunCommand = fc.record({ pick }).map((args) =>
  command(
    `dry run of batch#${args.pick}`,
    async (_model, real) => {
      const batchId = await chooseBatchIn(real, args.pick, [
        BATCH_STATUS.awaitingApproval,
        BATCH_STATUS.paused,
        BATCH_STATUS.pending,
      ]);
      if (!batchId) return;
      const outcome = await withTimeout(
        real.batches.dryRunBatch(batchId).then(
          (summary) =>
            `tried ${summary.total}: ${summary.wouldComplete} would complete, ${summary.wouldFail} fail, ${summary.wouldSkip} skip`,
          (error: unknown) => {
            if (!expected(error))
              real.violations.push(`dryRunBatch(${batchId}) threw ${errorText(error)}`);
            return `threw ${errorText(error)}`;
          },
        ),
        SETTLE_CALL_TIMEOUT_MS,
      );
      note(real, `  ${short(batchId)}: ${outcome}`);
      if (outcome === 'timeout') real.violations.push(`dryRunBatch(${batchId}) never returned`);
    },
    (model) => model.created.length > 0,
  ),
);

/** An error budget: a few failures, or a share of the rows after a small sample. */
const budget: fc.Arbitrary<RunBudget> = fc.oneof(
  fc.record({ maxFailures: fc.integer({ min: 0, max: 4 }) }),
  fc.record({
    maxFailureRate: fc.constantFrom(0.05, 0.1, 0.25, 0.5),
    failureRateMinItems: fc.integer({ min: 1, max: 10 }),
  }),
);

const describeBudget = (b: RunBudget) =>
  b.maxFailures !== undefined
    ? `maxFailures=${b.maxFailures}`
    : `maxFailureRate=${b.maxFailureRate} after ${b.failureRateMinItems}`;

/** Runs processBatch here and records the run. */
export async function processHere(
  model: Model,
  real: Real,
  batchId: string,
  concurrency: number,
  commitEvery: number,
  runBudget: RunBudget | null,
): Promise<void> {
  model.runs.push({ batchId, concurrency, commitEvery, budget: runBudget });
  const outcome = await withTimeout(
    real.batches.processBatch(batchId, { concurrency, commitEvery, ...runBudget }).then(
      (summary) =>
        `ended ${summary.status}${summary.errorMessage ? `: ${summary.errorMessage.slice(0, 80)}` : ''}`,
      (error: unknown) => `threw ${errorText(error)}`,
    ),
    SETTLE_CALL_TIMEOUT_MS,
  );
  note(real, `  ${short(batchId)}: ${outcome}`);
  if (outcome === 'timeout') real.violations.push(`processBatch(${batchId}) never settled`);
}

const runArguments = {
  pick,
  concurrency: fc.integer({ min: 1, max: 4 }),
  commitEvery: fc.constantFrom(1, 1, 3, 10),
  budget,
};

export const inlineBudgetProcessCommand = fc.record(runArguments).map((args) =>
  command(
    `processBatch here on batch#${args.pick} concurrency=${args.concurrency} commitEvery=${args.commitEvery} ${describeBudget(args.budget)}`,
    async (model, real) => {
      const batchId = await chooseBatchIn(real, args.pick, RUNNABLE_BATCH_STATUSES);
      if (!batchId) return;
      await processHere(model, real, batchId, args.concurrency, args.commitEvery, args.budget);
    },
    (model) => model.created.length > 0,
  ),
);

export const budgetProcessCommand = fc
  .record({ ...runArguments, processes: fc.integer({ min: 1, max: 2 }) })
  .map((args) =>
    command(
      `process batch#${args.pick} concurrency=${args.concurrency} commitEvery=${args.commitEvery} ${describeBudget(args.budget)} processes=${args.processes}`,
      async (model, real) => {
        const batchId = await chooseBatchIn(real, args.pick, RUNNABLE_BATCH_STATUSES);
        if (!batchId) return;
        for (let p = 0; p < args.processes; p++) {
          model.runs.push({
            batchId,
            concurrency: args.concurrency,
            commitEvery: args.commitEvery,
            budget: args.budget,
          });
          spawnChild(
            real,
            `process ${short(batchId)} ${describeBudget(args.budget)}`,
            childConfig(real, {
              mode: 'process',
              batchId,
              concurrency: args.concurrency,
              commitEvery: args.commitEvery,
              continueOnError: true,
              budget: args.budget,
            }),
          );
        }
      },
      (model) => model.created.length > 0,
    ),
  );
