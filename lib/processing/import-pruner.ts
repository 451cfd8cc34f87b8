import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import type { PruneLogsReport, PruneReport } from '../interfaces/retention.interface';
import type { BatchStatus } from '../statuses';
import { codeOf, toError } from '../utils/error-details.util';
import { sleep } from '../utils/sleep.util';
import { isTransientError, retryDelay } from '../utils/transient-error.util';
import { DatabaseAdapter } from './database-adapter';
import { inTransaction } from './transaction';
import {
  deleteBatches,
  deleteItemsOfBatches,
  deleteLogsOfBatches,
  deleteProgressOfBatches,
  dueRoots,
  lockRoots,
  pruneLogsSlice,
  sliceLockTimeout,
  treeFacts,
  type PolicyArgs,
} from './statements/retention.statements';

/** What one removal of trees is asked: the policy, and how. */
export interface TreePrune extends PolicyArgs {
  includeUnresolved: boolean;
  dryRun: boolean;
  sliceSize: number;
  /** Asked between slices; true stops the removal there (a shutdown). */
  stopped?: () => boolean;
}

/** What one removal of old audit-log entries is asked. */
export interface LogPrune {
  cutoff: Date;
  batchTypes: readonly string[] | null;
  excludedTypes: readonly string[];
  dryRun: boolean;
  stopped?: () => boolean;
}

/** A slice also stops at this many rows, so that a slice of big batches stays short. */
export const SLICE_ROWS = 50_000;

/** Audit-log entries one slice of `pruneLogs` looks at. */
export const LOG_SLICE = 5_000;

/** The longest a slice's statement waits for a lock; then the slice is rolled back and tried again. */
export const SLICE_LOCK_TIMEOUT_MS = 5_000;

/** Tries of one slice that failed on a deadlock, a serialization failure, a lock wait or a lost connection. */
export const SLICE_ATTEMPTS = 3;

/** SQLSTATE of a lock that was not granted within `lock_timeout`. */
export const LOCK_NOT_AVAILABLE = '55P03';

interface TreeFacts {
  root_id: string;
  batch_ids: string[];
  batches: number;
  rows: string | number;
  live: boolean;
  due: boolean;
  unresolved: boolean;
}

/** An empty report, to add slices to. */
export function emptyPruneReport(dryRun: boolean): PruneReport {
  return {
    dryRun,
    trees: 0,
    batches: 0,
    batchesByStatus: {},
    items: 0,
    logs: 0,
    progressRows: 0,
    slices: 0,
    kept: { live: 0, unresolved: 0, busy: 0 },
  };
}

/** Adds `more` into `total`. */
export function addPruneReports(total: PruneReport, more: PruneReport): void {
  total.trees += more.trees;
  total.batches += more.batches;
  total.items += more.items;
  total.logs += more.logs;
  total.progressRows += more.progressRows;
  total.slices += more.slices;
  total.kept.live += more.kept.live;
  total.kept.unresolved += more.kept.unresolved;
  total.kept.busy += more.kept.busy;
  for (const [status, count] of Object.entries(more.batchesByStatus)) {
    const key = status as BatchStatus;
    total.batchesByStatus[key] = (total.batchesByStatus[key] ?? 0) + (count ?? 0);
  }
}

/**
 * Removes ended trees of batches in slices, each its own short transaction: the slice locks the first
 * batches of its trees (skipping those another transaction holds), reads each tree again under that lock,
 * and removes the trees still due as a whole, logs, counters and rows first. A dry run runs the same
 * slices and rolls each back, so that it reports what a real run would remove. Also removes old audit-log
 * entries of the batches that are kept.
 */
@Injectable()
export class ImportPruner {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  async pruneTrees(prune: TreePrune): Promise<PruneReport> {
    const report = emptyPruneReport(prune.dryRun);
    // The trees are found by the status of their first batch, one status at a time (its own index range);
    // each is then judged whole, by the whole policy.
    for (const [index, status] of prune.statuses.entries()) {
      let cursor: { createdAt: string; id: string } | null = null;
      while (!prune.stopped?.()) {
        const roots: Array<{ id: string; cursor: string }> = await this.database.run(
          dueRoots({
            ...prune,
            status,
            cutoff: prune.cutoffs[index],
            afterCreatedAt: cursor?.createdAt ?? null,
            afterId: cursor?.id ?? null,
            limit: prune.sliceSize,
          }),
        );
        if (roots.length === 0) break;
        const [decided, part] = await this.sliceWithRetries(
          roots.map((root) => root.id),
          prune,
        );
        addPruneReports(report, part);
        report.slices += 1;
        const last: { id: string; cursor: string } = roots[decided - 1];
        cursor = { createdAt: last.cursor, id: last.id };
      }
    }
    return report;
  }

  /**
   * Runs one slice in its transaction, again (from scratch, its counts with it) when it failed on a
   * conflict that the next try may not meet.
   */
  private async sliceWithRetries(
    rootIds: string[],
    prune: TreePrune,
  ): Promise<[decided: number, part: PruneReport]> {
    for (let attempt = 1; ; attempt++) {
      const part = emptyPruneReport(prune.dryRun);
      try {
        const decided = await inTransaction(
          this.database,
          (transaction) => this.slice(transaction, rootIds, prune, part),
          prune.dryRun ? 'rollback' : 'commit',
        );
        return [decided, part];
      } catch (error) {
        const failure = toError(error);
        const retry = isTransientError(failure) || codeOf(failure) === LOCK_NOT_AVAILABLE;
        if (!retry || attempt >= SLICE_ATTEMPTS) throw error;
        await sleep(retryDelay(attempt, 100, 2_000));
      }
    }
  }

  /**
   * One slice: removes the due trees of `rootIds` (in their order) up to the slice's size; returns how
   * many of `rootIds` it decided on (removed or kept), so that the next slice starts after them.
   */
  private async slice(
    transaction: QueryRunner,
    rootIds: string[],
    prune: TreePrune,
    report: PruneReport,
  ): Promise<number> {
    await this.database.run(sliceLockTimeout({ ms: SLICE_LOCK_TIMEOUT_MS }), transaction);
    const locked = new Set(
      (await this.database.run<{ id: string }>(lockRoots({ rootIds }), transaction)).map(
        (row) => row.id,
      ),
    );
    const facts = new Map(
      (
        await this.database.run<TreeFacts>(
          treeFacts({ rootIds: [...locked], statuses: prune.statuses, cutoffs: prune.cutoffs }),
          transaction,
        )
      ).map((tree) => [tree.root_id, tree]),
    );
    const doomed: string[] = [];
    let rows = 0;
    let decided = 0;
    for (const rootId of rootIds) {
      const tree = facts.get(rootId);
      if (tree && tree.due && !tree.live && (prune.includeUnresolved || !tree.unresolved)) {
        // Whole trees only; the first one goes whatever its size, or a big tree would never go.
        const tooBig =
          doomed.length > 0 &&
          (doomed.length + tree.batches > prune.sliceSize || rows + Number(tree.rows) > SLICE_ROWS);
        if (tooBig) break;
        doomed.push(...tree.batch_ids);
        rows += Number(tree.rows);
        report.trees += 1;
      } else if (!locked.has(rootId)) {
        report.kept.busy += 1;
      } else if (tree?.live) {
        report.kept.live += 1;
      } else if (tree?.due && tree.unresolved) {
        report.kept.unresolved += 1;
      }
      decided += 1;
    }
    if (doomed.length > 0) await this.remove(transaction, doomed, report);
    return decided;
  }

  private async remove(
    transaction: QueryRunner,
    batchIds: string[],
    report: PruneReport,
  ): Promise<void> {
    const count = async (statement: ReturnType<typeof deleteLogsOfBatches>): Promise<number> => {
      const [row] = await this.database.run<{ count: number }>(statement, transaction);
      return Number(row?.count ?? 0);
    };
    report.logs += await count(deleteLogsOfBatches({ batchIds }));
    report.progressRows += await count(deleteProgressOfBatches({ batchIds }));
    report.items += await count(deleteItemsOfBatches({ batchIds }));
    const removed = await this.database.run<{ status: BatchStatus; count: number }>(
      deleteBatches({ batchIds }),
      transaction,
    );
    for (const { status, count: n } of removed) {
      report.batches += Number(n);
      report.batchesByStatus[status] = (report.batchesByStatus[status] ?? 0) + Number(n);
    }
  }

  /** Removes (or counts) the audit-log entries older than the cutoff, a window at a time. */
  async pruneLogs(prune: LogPrune): Promise<PruneLogsReport> {
    const report: PruneLogsReport = { dryRun: prune.dryRun, logs: 0, slices: 0 };
    let afterId = '0';
    while (!prune.stopped?.()) {
      const [row] = await this.database.run<{
        last_id: string | null;
        any_old: boolean;
        count: number;
      }>(pruneLogsSlice({ ...prune, afterId, window: LOG_SLICE }));
      report.slices += 1;
      report.logs += Number(row?.count ?? 0);
      if (!row?.last_id || !row.any_old) break;
      afterId = row.last_id;
    }
    return report;
  }
}
