import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import type { BatchProgress } from '../interfaces/batch-progress.interface';
import { isEndedBatch, isRunnableBatch, type BatchStatus } from '../statuses';
import { isUuid } from '../utils/uuid.util';
import { DatabaseAdapter } from './database-adapter';
import { batchProgress, type ProgressRow } from './statements/progress.statements';

/** The shortest time a rate is measured over: before that, a few rows would make a rate of thousands. */
const MIN_RATE_SECONDS = 1;

/**
 * A batch's progress (`getProgress`) and the polling of it (`watchBatch`). Watches end when the
 * application shuts down, before its connections close.
 */
@Injectable()
export class ProgressReader implements BeforeApplicationShutdown {
  /** The watches under way: each waits between two readings, or reads. */
  private readonly watches = new Set<Watch>();
  private shuttingDown = false;

  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  /** The batch's progress now; a batch id that is no uuid is not found, never a SQL error. */
  async read(batchId: string): Promise<BatchProgress> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const [row] = await this.database.run<ProgressRow>(batchProgress({ batchId }));
    if (!row) throw new ImportBatchNotFoundError(batchId);
    return toProgress(row);
  }

  /**
   * Yields the batch's progress at once, then every `intervalMs`, until a reading finds it ended (that one
   * is yielded last) or the application shuts down (then it ends without one). Nothing runs between the
   * readings the consumer asks for: a consumer that stops asking (`break`) leaves no timer and no query.
   */
  async *watch(
    batchId: string,
    intervalMs: number,
  ): AsyncGenerator<BatchProgress, void, undefined> {
    const watch = new Watch();
    this.watches.add(watch);
    try {
      while (!this.shuttingDown) {
        const progress = await watch.track(this.read(batchId));
        if (this.shuttingDown) return;
        yield progress;
        if (isEndedBatch(progress.status)) return;
        await watch.sleep(intervalMs);
      }
    } finally {
      watch.wake();
      this.watches.delete(watch);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.watches].map((watch) => watch.stop()));
  }
}

/** One watch's wait between readings, and its reading in flight, for a shutdown to end them. */
class Watch {
  private timer: NodeJS.Timeout | undefined;
  private waking: (() => void) | undefined;
  private reading: Promise<unknown> | undefined;
  private stopped = false;

  /** Runs `read` as the watch's reading in flight. */
  async track<T>(read: Promise<T>): Promise<T> {
    this.reading = read;
    try {
      return await read;
    } finally {
      this.reading = undefined;
    }
  }

  /** Waits `ms`, unless the watch is stopped (before or during the wait). */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waking = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  wake(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const waking = this.waking;
    this.waking = undefined;
    waking?.();
  }

  /** Ends the wait at once, and waits for the reading in flight (its error is the consumer's). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.reading?.catch(() => undefined);
  }
}

/** The figures of `BatchProgress` from the counters and counts `batchProgress` read. */
export function toProgress(row: ProgressRow): BatchProgress {
  const status = row.status as BatchStatus;
  const totalItems = Number(row.total_items);
  const completed = Number(row.completed);
  const failed = Number(row.failed);
  const skipped = Number(row.skipped);
  const cancelled = Number(row.cancelled);
  const inFlight = Number(row.in_flight);
  const done = completed + failed + skipped;
  const pending = Math.max(0, totalItems - done - inFlight - cancelled);
  const seconds = row.recent_seconds === null ? null : Number(row.recent_seconds);
  const itemsPerSecond =
    row.started_at === null || seconds === null || seconds < MIN_RATE_SECONDS
      ? null
      : Math.round((Number(row.recent) / seconds) * 100) / 100;
  const left = pending + inFlight;
  const etaMs =
    !isRunnableBatch(status) || !itemsPerSecond
      ? null
      : left === 0
        ? 0
        : Math.round((left / itemsPerSecond) * 1000);
  return {
    batchId: row.batch_id,
    status,
    totalItems,
    completed,
    failed,
    skipped,
    cancelled,
    inFlight,
    pending,
    done,
    percent: totalItems === 0 ? 100 : Math.floor((done * 1000) / totalItems) / 10,
    itemsPerSecond,
    etaMs,
    startedAt: dateOrNull(row.started_at),
    completedAt: dateOrNull(row.completed_at),
    errorMessage: row.error_message,
    measuredAt: dateOrNull(row.measured_at) ?? new Date(),
  };
}

const dateOrNull = (value: Date | string | null): Date | null =>
  value === null ? null : value instanceof Date ? value : new Date(value);
