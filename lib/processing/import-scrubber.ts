import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import type { ScrubReport } from '../interfaces/scrubbing.interface';
import { ENDED_BATCH_STATUSES } from '../statuses';
import { codeOf, toError } from '../utils/error-details.util';
import { sleep } from '../utils/sleep.util';
import { isTransientError, retryDelay } from '../utils/transient-error.util';
import { DatabaseAdapter } from './database-adapter';
import {
  LOCK_NOT_AVAILABLE,
  SLICE_ATTEMPTS,
  SLICE_LOCK_TIMEOUT_MS,
  SLICE_ROWS,
} from './import-pruner';
import type { AppliedScrub } from './scrub-policies';
import {
  dueRoots,
  lockRoots,
  sliceLockTimeout,
  treeFacts,
} from './statements/retention.statements';
import { scrubRowsOfBatches } from './statements/scrubbing.statements';
import { inTransaction } from './transaction';

/** What one scrubbing is asked: the policy, and how. */
export interface TreeScrub extends AppliedScrub {
  dryRun: boolean;
  sliceSize: number;
  /** Asked between slices; true stops the scrubbing there (a shutdown). */
  stopped?: () => boolean;
}

interface TreeFacts {
  root_id: string;
  batch_ids: string[];
  rows: string | number;
  live: boolean;
  due: boolean;
}

/** An empty report, to add slices to. */
export function emptyScrubReport(dryRun: boolean): ScrubReport {
  return {
    dryRun,
    policies: 0,
    trees: 0,
    rows: 0,
    logs: 0,
    slices: 0,
    kept: { live: 0, busy: 0 },
  };
}

/** Adds `more` into `total`. */
export function addScrubReports(total: ScrubReport, more: ScrubReport): void {
  total.policies += more.policies;
  total.trees += more.trees;
  total.rows += more.rows;
  total.logs += more.logs;
  total.slices += more.slices;
  total.kept.live += more.kept.live;
  total.kept.busy += more.kept.busy;
}

/**
 * Scrubs the personal data of ended trees of batches in slices, each its own short transaction, in the
 * shape of `ImportPruner`: the slice locks the first batches of its trees (skipping those a reprocess, a
 * correction, a pruner or another scrub holds), reads each tree again under that lock, and scrubs the rows
 * of the trees still due and with no batch that may run. A row is scrubbed once: a second run finds
 * nothing left to do in it. A dry run rolls each slice back.
 */
@Injectable()
export class ImportScrubber {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  async scrubTrees(scrub: TreeScrub): Promise<ScrubReport> {
    const report = emptyScrubReport(scrub.dryRun);
    report.policies = 1;
    const statuses = [...ENDED_BATCH_STATUSES];
    for (const status of statuses) {
      let cursor: { createdAt: string; id: string } | null = null;
      while (!scrub.stopped?.()) {
        const roots: Array<{ id: string; cursor: string }> = await this.database.run(
          dueRoots({
            status,
            cutoff: scrub.cutoff,
            batchTypes: scrub.batchTypes,
            excludedTypes: scrub.excludedTypes,
            afterCreatedAt: cursor?.createdAt ?? null,
            afterId: cursor?.id ?? null,
            limit: scrub.sliceSize,
          }),
        );
        if (roots.length === 0) break;
        const [decided, part] = await this.sliceWithRetries(
          roots.map((root) => root.id),
          scrub,
          statuses,
        );
        addScrubReports(report, part);
        report.slices += 1;
        const last: { id: string; cursor: string } = roots[decided - 1];
        cursor = { createdAt: last.cursor, id: last.id };
      }
    }
    return report;
  }

  private async sliceWithRetries(
    rootIds: string[],
    scrub: TreeScrub,
    statuses: string[],
  ): Promise<[decided: number, part: ScrubReport]> {
    for (let attempt = 1; ; attempt++) {
      const part = emptyScrubReport(scrub.dryRun);
      try {
        const decided = await inTransaction(
          this.database,
          (transaction) => this.slice(transaction, rootIds, scrub, statuses, part),
          scrub.dryRun ? 'rollback' : 'commit',
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
   * One slice: scrubs the due trees of `rootIds` (in their order) up to the slice's size; returns how many
   * of `rootIds` it decided on, so that the next slice starts after them.
   */
  private async slice(
    transaction: QueryRunner,
    rootIds: string[],
    scrub: TreeScrub,
    statuses: string[],
    report: ScrubReport,
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
          treeFacts({ rootIds: [...locked], statuses, cutoffs: statuses.map(() => scrub.cutoff) }),
          transaction,
        )
      ).map((tree) => [tree.root_id, tree]),
    );
    const batchIds: string[] = [];
    const rootOf = new Map<string, string>();
    let rows = 0;
    let decided = 0;
    for (const rootId of rootIds) {
      const tree = facts.get(rootId);
      if (tree && tree.due && !tree.live) {
        // Whole trees only; the first one goes whatever its size, or a big tree would never be scrubbed.
        if (batchIds.length > 0 && rows + Number(tree.rows) > SLICE_ROWS) break;
        batchIds.push(...tree.batch_ids);
        for (const batchId of tree.batch_ids) rootOf.set(batchId, rootId);
        rows += Number(tree.rows);
      } else if (!locked.has(rootId)) {
        report.kept.busy += 1;
      } else if (tree?.live) {
        report.kept.live += 1;
      }
      decided += 1;
    }
    if (batchIds.length === 0) return decided;
    const [done] = await this.database.run<{ rows: number; logs: number; batch_ids: string[] }>(
      scrubRowsOfBatches({
        batchIds,
        keepFields: scrub.keepFields,
        includeUnresolved: scrub.includeUnresolved,
      }),
      transaction,
    );
    report.rows += Number(done?.rows ?? 0);
    report.logs += Number(done?.logs ?? 0);
    report.trees += new Set((done?.batch_ids ?? []).map((batchId) => rootOf.get(batchId))).size;
    return decided;
  }
}
