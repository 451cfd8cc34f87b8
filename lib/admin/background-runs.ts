import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ProcessingStoppedError } from '../errors/processing-stopped.error';
import { messages } from '../reliable-imports.messages';

/**
 * The runs that admin requests start and do not wait for (an upload, a reprocess started with
 * `wait: false`, an approval, a resume): the answer goes out when the batch is stored, and the run goes
 * on here. A batch another run holds (the worker's) is joined, not run twice. A run that
 * fails is logged with its batch; the batch itself says how it ended (and the worker or the next
 * `processBatch` picks up what a run left, as after any crash).
 */
@Injectable()
export class BackgroundRuns implements OnApplicationShutdown {
  private readonly logger = new Logger('ReliableImportsAdmin');
  private readonly runs = new Set<Promise<void>>();

  start(batchId: string, run: () => Promise<unknown>): void {
    const settled: Promise<void> = run()
      .then(
        () => undefined,
        (error: unknown) => this.report(batchId, error),
      )
      .finally(() => this.runs.delete(settled));
    this.runs.add(settled);
  }

  /** The module's runner stops its runs before this (beforeApplicationShutdown): they end soon. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.runs]);
  }

  private report(batchId: string, error: unknown): void {
    if (error instanceof ProcessingStoppedError) {
      this.logger.log(messages.adminRunStopped(batchId));
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(
      messages.adminRunFailed(batchId, message),
      error instanceof Error ? error.stack : undefined,
    );
  }
}
