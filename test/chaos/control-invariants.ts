/**
 * The fault suite's settling and invariants of operator control (issue 13). Before the batches are brought
 * to rest: no row was claimed in a batch after a pause of it returned (until a resume), and a batch paused
 * by an error budget had spent a budget one of its runs had, by no more failures than its runs had in
 * flight. To bring them to rest: a batch awaiting approval is approved, a paused one resumed, a cancelled
 * one cancelled again (rows a dead run left); after the runs, a tree whose rows were cancelled is
 * reprocessed. Then: the progress counters equal the rows' outcomes, an ended batch holds no open row, a
 * row is applied only by a completed copy, and a row whose data completes was applied exactly once.
 */
import { BATCH_STATUS, ENDED_BATCH_STATUSES } from '../../lib/statuses';
import { largestClaimSize } from '../../lib/processing/run-options';
import {
  errorText,
  note,
  query,
  SETTLE_CALL_TIMEOUT_MS,
  short,
  withTimeout,
  type Model,
  type Real,
} from './suite-kit';

/** Slack between the suite's clock and PostgreSQL's (the same machine's, read at different moments). */
const CLOCK_SLACK_MS = 20;

/** An error budget's reason, as the module writes it (messages.budgetSpent). */
const BUDGET_REASON = /^stopped: (\d+) of (\d+) rows failed \(budget ([^)]*)\)/;

/** The checks on batches as the sequence left them, before anything is resumed. */
export async function checkBeforeRest(model: Model, real: Real): Promise<void> {
  await checkPauseFences(model, real);
  await checkBudgets(model, real);
}

/**
 * Once a pause of a batch returned with the batch paused, no row of it is claimed (its `started_at` is
 * the claim's time) until a resume of it, which may have begun at any moment after the pause did.
 */
async function checkPauseFences(model: Model, real: Real): Promise<void> {
  for (const pause of model.controls) {
    if (pause.action !== 'pause' || !pause.paused) continue;
    const until = Math.min(
      ...model.controls
        .filter(
          (resume) =>
            resume.action === 'resume' &&
            resume.batchId === pause.batchId &&
            resume.endedAt >= pause.startedAt,
        )
        .map((resume) => resume.startedAt),
      Date.now(),
    );
    if (until <= pause.endedAt) continue;
    const claimed = await query<{ id: string; started_at: Date }>(
      real,
      `SELECT id, started_at FROM import_batch_items
       WHERE batch_id = $1 AND started_at > $2 AND started_at < $3`,
      [pause.batchId, new Date(pause.endedAt + CLOCK_SLACK_MS), new Date(until - CLOCK_SLACK_MS)],
    );
    for (const row of claimed) {
      real.violations.push(
        `row ${row.id} of batch ${pause.batchId} was claimed at ${row.started_at.toISOString()}, after a pause returned at ${new Date(pause.endedAt).toISOString()} (no resume before ${new Date(until).toISOString()})`,
      );
    }
  }
}

/**
 * A batch paused by an error budget: one of its runs had that budget, and spent it (more failures than
 * `maxFailures`; or a larger share than `maxFailureRate` of at least `failureRateMinItems` rows). When it was
 * never resumed: its failed rows are at least those counted then, and when each of its runs had a
 * `maxFailures` (and no worker ran), at most the largest budget plus its unreadable lines plus what the runs
 * may have had in flight.
 */
async function checkBudgets(model: Model, real: Real): Promise<void> {
  const v = real.violations;
  const paused = await query<{
    id: string;
    root: boolean;
    error_message: string;
    total_items: number;
    failed: number;
    unread: number;
    done: number;
  }>(
    real,
    `SELECT b.id, b.parent_batch_id IS NULL AS root, b.error_message, b.total_items,
            (SELECT count(*)::int FROM import_batch_items i WHERE i.batch_id = b.id AND i.status = 'failed') AS failed,
            (SELECT count(*)::int FROM import_batch_items i WHERE i.batch_id = b.id AND i.status = 'failed'
               AND i.error_details ->> 'code' = 'MALFORMED_LINE') AS unread,
            (SELECT count(*)::int FROM import_batch_items i WHERE i.batch_id = b.id
               AND i.status IN ('completed', 'failed', 'skipped')) AS done
     FROM import_batches b WHERE b.status = $1 AND b.error_message LIKE 'stopped: %'`,
    [BATCH_STATUS.paused],
  );
  for (const batch of paused) {
    const said = BUDGET_REASON.exec(batch.error_message);
    const runs = model.runs.filter((run) => run.batchId === batch.id);
    const why = `batch ${batch.id} paused "${batch.error_message.slice(0, 80)}"`;
    if (!said) {
      v.push(`${why}: not a budget's reason`);
      continue;
    }
    const [failed, processed] = [Number(said[1]), Number(said[2])];
    const spent = runs.some(({ budget }) => {
      if (!budget) return false;
      if (budget.maxFailures !== undefined)
        return (
          said[3] === `${budget.maxFailures} failure${budget.maxFailures === 1 ? '' : 's'}` &&
          failed > budget.maxFailures
        );
      const rate = budget.maxFailureRate!;
      return (
        said[3] === `${Number((rate * 100).toPrecision(4))}%` &&
        processed >= (budget.failureRateMinItems ?? 100) &&
        failed / processed > rate
      );
    });
    if (!spent) {
      v.push(
        `${why}: no run of it had a budget that this spends (runs: ${JSON.stringify(runs.map((run) => run.budget))})`,
      );
    }
    const resumed = model.controls.some(
      (call) => call.action === 'resume' && call.batchId === batch.id,
    );
    if (resumed) continue;
    if (batch.failed < failed || batch.done < processed) {
      v.push(`${why}, but its rows say ${batch.failed} failed of ${batch.done} processed`);
    }
    const counted = runs.every((run) => run.budget?.maxFailures !== undefined);
    if (!batch.root || !counted || model.workerRan || runs.length === 0) continue;
    const budget = Math.max(...runs.map((run) => run.budget!.maxFailures!));
    const inFlight = runs
      .map(
        (run) =>
          run.concurrency *
          Math.max(
            run.commitEvery,
            largestClaimSize(batch.total_items, run.concurrency, run.commitEvery),
          ),
      )
      .reduce((a, b) => a + b, 0);
    // A file's unreadable lines are failed before any run: they count, and the first failure may spend it.
    if (batch.failed > budget + batch.unread + inFlight) {
      v.push(
        `${why}: ${batch.failed} rows failed, more than its budget ${budget}, its ${batch.unread} unreadable lines and the ${inFlight} rows its runs may have had in flight`,
      );
    }
  }
}

/**
 * Brings every batch that waits to a state the settle runs finish: approves those awaiting approval,
 * resumes the paused ones, and cancels the cancelled ones again (the rows a dead run left `processing` are
 * cancelled, and the counts brought up to date). Leases have expired when this runs.
 */
export async function bringToRest(model: Model, real: Real): Promise<void> {
  const waiting = await query<{ id: string; status: string }>(
    real,
    `SELECT id, status FROM import_batches WHERE status = ANY($1::text[]) ORDER BY created_at, id`,
    [[BATCH_STATUS.awaitingApproval, BATCH_STATUS.paused, BATCH_STATUS.cancelled]],
  );
  for (const { id, status } of waiting) {
    try {
      if (status === BATCH_STATUS.awaitingApproval) await real.batches.approveBatch(id);
      else if (status === BATCH_STATUS.paused) {
        model.controls.push({
          batchId: id,
          action: 'resume',
          startedAt: Date.now(),
          endedAt: Date.now(),
          paused: false,
        });
        await real.batches.resumeBatch(id);
      } else await real.batches.cancelBatch(id);
      note(real, `  rest ${short(id)}: was ${status}`);
    } catch (error) {
      real.violations.push(`bringing batch ${id} (${status}) to rest threw ${errorText(error)}`);
    }
  }
}

/**
 * Reprocesses each tree whose newest copy of a row is cancelled: a reprocess runs cancelled rows like
 * failures, and the rows whose data completes must then be applied, once.
 */
export async function completeCancelled(real: Real): Promise<void> {
  const trees = await query<{ root: string }>(
    real,
    `WITH newest AS (
       SELECT DISTINCT ON (COALESCE(i.original_item_id, i.id))
              COALESCE(i.original_item_id, i.id) AS source_id, i.status
       FROM import_batch_items i JOIN import_batches b ON b.id = i.batch_id
       ORDER BY COALESCE(i.original_item_id, i.id), b.created_at DESC, i.created_at DESC)
     SELECT DISTINCT s.batch_id AS root FROM newest n JOIN import_batch_items s ON s.id = n.source_id
     WHERE n.status = 'cancelled'`,
  );
  for (const { root } of trees) {
    const outcome = await withTimeout(
      real.batches.reprocessBatch(root, { concurrency: 4 }).then(
        (summary) => `child ${short(summary.batchId)} ended ${summary.status}`,
        (error: unknown) => `threw ${errorText(error)}`,
      ),
      SETTLE_CALL_TIMEOUT_MS,
    );
    note(real, `  reprocess the cancelled rows of ${short(root)}: ${outcome}`);
    if (outcome === 'timeout' || outcome.startsWith('threw'))
      real.violations.push(`reprocessBatch(${root}) of its cancelled rows: ${outcome}`);
  }
}

/** The invariants of operator control, once every batch has settled. */
export async function checkControl(real: Real): Promise<void> {
  const v = real.violations;

  // No batch left waiting or running.
  const open = await query<{ id: string; status: string }>(
    real,
    `SELECT id, status FROM import_batches WHERE NOT (status = ANY($1::text[]))`,
    [[...ENDED_BATCH_STATUSES]],
  );
  for (const batch of open) v.push(`batch ${batch.id} is still ${batch.status} after settling`);

  // The progress counters count every outcome of every batch, as its rows stand.
  const drift = await query<{
    id: string;
    counted: string;
    rows: string;
  }>(
    real,
    `WITH counted AS (
       SELECT batch_id, sum(completed)::int AS completed, sum(failed)::int AS failed,
              sum(skipped)::int AS skipped
       FROM import_batch_progress GROUP BY batch_id),
     rows AS (
       SELECT batch_id,
              (count(*) FILTER (WHERE status = 'completed'))::int AS completed,
              (count(*) FILTER (WHERE status = 'failed'))::int AS failed,
              (count(*) FILTER (WHERE status = 'skipped'))::int AS skipped
       FROM import_batch_items GROUP BY batch_id)
     SELECT b.id,
            concat_ws('/', COALESCE(c.completed, 0), COALESCE(c.failed, 0), COALESCE(c.skipped, 0)) AS counted,
            concat_ws('/', COALESCE(r.completed, 0), COALESCE(r.failed, 0), COALESCE(r.skipped, 0)) AS rows
     FROM import_batches b
     LEFT JOIN counted c ON c.batch_id = b.id LEFT JOIN rows r ON r.batch_id = b.id
     WHERE concat_ws('/', COALESCE(c.completed, 0), COALESCE(c.failed, 0), COALESCE(c.skipped, 0))
        <> concat_ws('/', COALESCE(r.completed, 0), COALESCE(r.failed, 0), COALESCE(r.skipped, 0))`,
  );
  for (const row of drift) {
    v.push(
      `progress counters of batch ${row.id} say completed/failed/skipped ${row.counted}, its rows ${row.rows}`,
    );
  }
  for (const row of drift.slice(0, 3)) {
    const progress = await real.batches.getProgress(row.id).catch(() => null);
    if (progress) note(real, `  getProgress(${short(row.id)}): ${JSON.stringify(progress)}`);
  }

  // A row is applied only by a copy that completed: never by a cancelled (or failed, skipped) one.
  const unapplied = await query<{ item_id: string; status: string; applied: number }>(
    real,
    `SELECT a.item_id, i.status, count(*)::int AS applied
     FROM chaos_applied a JOIN import_batch_items i ON i.id = a.item_id
     WHERE i.status <> 'completed' GROUP BY a.item_id, i.status`,
  );
  for (const row of unapplied)
    v.push(`item ${row.item_id} is ${row.status}, but was applied ${row.applied} time(s)`);

  // Exactly once where the data completes: a row whose newest copy's data neither fails nor lacks a
  // field was completed (and applied) once — unless a stop left it pending (a batch failed at its first
  // failure), or its copy failed for a cause outside its data (its item timed out, as a frozen process's
  // do).
  const missing = await query<{
    source_id: string;
    newest_id: string;
    status: string;
    batch_status: string;
    error_message: string | null;
    completed: number;
    applied: number;
  }>(
    real,
    `WITH copies AS (
       SELECT COALESCE(i.original_item_id, i.id) AS source_id, i.*, b.status AS batch_status,
              b.error_message AS batch_error,
              row_number() OVER (PARTITION BY COALESCE(i.original_item_id, i.id)
                                 ORDER BY b.created_at DESC, i.created_at DESC) AS k
       FROM import_batch_items i JOIN import_batches b ON b.id = i.batch_id),
     newest AS (
       SELECT *, COALESCE(corrected_data, source_data) AS data FROM copies WHERE k = 1)
     SELECT n.source_id, n.id AS newest_id, n.status, n.batch_status, n.error_message,
            (SELECT count(*)::int FROM copies c WHERE c.source_id = n.source_id AND c.status = 'completed') AS completed,
            (SELECT count(*)::int FROM chaos_applied a WHERE a.root_id = n.source_id) AS applied
     FROM newest n
     WHERE COALESCE(n.data ->> 'fail', 'transient') = 'transient'
       AND n.data ? 'n' AND n.data ? 'text'
       AND NOT (n.original_item_id IS NULL AND n.corrected_data IS NULL
                AND COALESCE(n.error_details ->> 'code', '') = 'MALFORMED_LINE')
       AND NOT (n.status = 'pending' AND n.batch_status = 'failed' AND n.batch_error LIKE 'Stopped at item%')
       AND NOT (n.status = 'failed' AND COALESCE(n.error_details ->> 'code', '') = 'ITEM_TIMEOUT')`,
  );
  for (const row of missing) {
    if (row.completed === 1 && row.applied === 1) continue;
    v.push(
      `source row ${row.source_id}, whose data completes, was completed ${row.completed} and applied ${row.applied} time(s); ` +
        `its newest copy ${row.newest_id} is ${row.status} in a ${row.batch_status} batch` +
        (row.error_message ? `: ${row.error_message.slice(0, 150)}` : ''),
    );
  }
}
