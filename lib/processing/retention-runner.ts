import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { ImportProcessorRegistry } from '../import-processor.registry';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import type { RetentionReport } from '../interfaces/retention.interface';
import type { ScrubReport } from '../interfaces/scrubbing.interface';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { toError } from '../utils/error-details.util';
import { DatabaseAdapter } from './database-adapter';
import { addPruneReports, emptyPruneReport, ImportPruner } from './import-pruner';
import { addScrubReports, emptyScrubReport, ImportScrubber } from './import-scrubber';
import { retainsSomething, retentionPolicies } from './retention-policies';
import { scrubPolicies, type AppliedScrub } from './scrub-policies';
import { tryRetentionLock } from './statements/retention.statements';

/**
 * Applies the configured retention (the module's `retention` and the processors', then the processors'
 * `scrub`), one instance at a time across processes: under an advisory lock taken in a transaction held
 * open, for the run, on one connection of its own (TypeORM pools connections: a session's lock taken on a
 * pooled one would be given back on another, or stay with the pool; and a pooler in transaction mode
 * keeps no session). With the background worker (`worker.enabled`) it runs every `retention.intervalMs`,
 * the first time at the start; never when neither retention nor scrubbing is configured.
 */
@Injectable()
export class RetentionRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReliableImports');
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(ImportPruner) private readonly pruner: ImportPruner,
    @Inject(ImportScrubber) private readonly scrubber: ImportScrubber,
  ) {}

  /** Whether any retention or scrubbing is configured, in the module or a processor. */
  configured(): boolean {
    return (
      retainsSomething(this.options.retention) ||
      this.registry
        .all()
        .some((processor) => retainsSomething(processor.retention) || processor.scrub !== undefined)
    );
  }

  onApplicationBootstrap(): void {
    if (!this.configured()) return;
    // Configured for nothing is a surprise found months later, when the tables have grown: said at once.
    if (!this.options.worker.enabled) {
      this.logger.log(messages.retentionWithoutWorker());
      return;
    }
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const run = this.apply(false).then(
        (report) => {
          if (report.ran && (report.batches.batches > 0 || report.logs.logs > 0)) {
            this.logger.log(messages.retentionApplied(report));
          }
          if (report.ran && report.scrubbed.rows > 0) {
            this.logger.log(messages.scrubApplied(report.scrubbed));
          }
        },
        (error) => this.logger.warn(messages.retentionFailed({ reason: toError(error).message })),
      );
      this.running = run;
      void run.finally(() => {
        this.running = null;
        this.schedule(this.options.retention.intervalMs);
      });
    }, delayMs);
  }

  /**
   * Applies the configured retention once, now (or, with `dryRun`, says what it would remove); resolves
   * with `ran: false`, having done nothing, when another instance is applying it.
   */
  async apply(dryRun: boolean): Promise<RetentionReport> {
    const report: RetentionReport = {
      dryRun,
      ran: false,
      policies: 0,
      batches: emptyPruneReport(dryRun),
      logs: { dryRun, logs: 0, slices: 0 },
      scrubbed: emptyScrubReport(dryRun),
    };
    return this.underLock(async () => {
      report.ran = true;
      const stopped = () => this.stopping;
      const policies = retentionPolicies(
        this.options.retention,
        this.registry.all().map(({ batchType, retention }) => ({ batchType, retention })),
        new Date(),
      );
      const scrubs = scrubPolicies(this.registry.all(), new Date());
      report.policies = policies.length + scrubs.length;
      // Old logs first: the entries a real run removes with their batches are then the young ones only,
      // so that the old entries a dry run counts (it removes no batch) are those a real run removes.
      for (const policy of policies) {
        if (!policy.logsCutoff) continue;
        const logs = await this.pruner.pruneLogs({
          cutoff: policy.logsCutoff,
          batchTypes: policy.batchTypes,
          excludedTypes: policy.excludedTypes,
          dryRun,
          stopped,
        });
        report.logs.logs += logs.logs;
        report.logs.slices += logs.slices;
      }
      for (const policy of policies) {
        if (policy.statuses.length === 0) continue;
        addPruneReports(
          report.batches,
          await this.pruner.pruneTrees({
            ...policy,
            dryRun,
            sliceSize: this.options.retention.sliceSize,
            stopped,
          }),
        );
      }
      // After the removals: a tree about to be removed is not scrubbed first for nothing.
      addScrubReports(report.scrubbed, await this.scrub(scrubs, dryRun));
      return report;
    }, report);
  }

  private async scrub(
    scrubs: readonly AppliedScrub[],
    dryRun: boolean,
    sliceSize = this.options.retention.sliceSize,
  ): Promise<ScrubReport> {
    const report = emptyScrubReport(dryRun);
    for (const scrub of scrubs) {
      addScrubReports(
        report,
        await this.scrubber.scrubTrees({
          ...scrub,
          dryRun,
          sliceSize,
          stopped: () => this.stopping,
        }),
      );
    }
    return report;
  }

  /**
   * Runs `work` holding the retention lock; resolves with `busy` when another instance holds it. The lock
   * is a transaction's, held by a transaction left open on a connection of its own for the run: it reads
   * and writes nothing, so it holds back neither vacuum nor anyone's row; its rollback gives the lock back.
   */
  private async underLock<T>(work: () => Promise<T>, busy: T): Promise<T> {
    // PGlite is one session of one process: nobody else to keep out, and no second transaction at once.
    if (this.database.singleConnection) return work();
    const runner = this.database.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      const [row] = await this.database.run<{ locked: boolean }>(tryRetentionLock(), runner);
      return row?.locked === true ? await work() : busy;
    } finally {
      await this.unlock(runner);
    }
  }

  /**
   * Ends the lock's transaction and gives the connection back; a connection whose rollback failed is
   * closed instead (which ends its transaction and its lock), never pooled with them.
   */
  private async unlock(runner: QueryRunner): Promise<void> {
    try {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
    } catch {
      await this.database.abandon(runner);
      return;
    }
    await this.database.release(runner);
  }
}
