import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  BaseProcessor,
  ImportProcessor,
  ReliableImportsModule,
  RetryableImportError,
  type ImportContext,
  type ImportItem,
  type ReliableImportsModuleOptions,
} from '../../lib';

/** How a row behaves when processed: fine, or one way of failing. */
export type FailMode = 'throw' | 'nonError' | 'skip' | 'invalid' | 'hang' | 'transient';

/** Which hostile text the processor puts in what it throws, skips with, logs and returns. */
export type TextKind = 'plain' | 'nul' | 'surrogate' | 'cutEmoji' | 'long';

/**
 * A source row of the suite. The hostile text itself cannot be stored as source data (a NUL or a lone
 * surrogate is refused at creation), so the row names it and the processor makes it.
 */
export interface ChaosRow {
  n: number;
  fail: FailMode | null;
  text: TextKind;
  /** Set by a correction: which one, so the suite can tell which data a completed copy ran on. */
  mark?: string;
}

export const BATCH_TYPE = 'chaos_row';

export function hostileText(kind: TextKind, n: number): string {
  switch (kind) {
    case 'plain':
      return `row ${n}`;
    case 'nul':
      return `row ${n} with a NUL \u0000 inside`;
    case 'surrogate':
      return `row ${n} moon ${'🌙'.slice(0, 1)}`;
    case 'cutEmoji':
      return `row ${n}: ${'Cafe Lune🌙 Paris'.slice(0, 10)}`;
    case 'long':
      return `row ${n} ${'long text '.repeat(20_000)}`;
  }
}

/** Rows of `fail` modes that end failed or skipped (unless corrected). */
export const FAILING: ReadonlySet<FailMode> = new Set([
  'throw',
  'nonError',
  'skip',
  'invalid',
  'hang',
]);

const never = new Promise<never>(() => undefined);

/**
 * Applies a row by inserting it into `chaos_applied` (no unique key) inside the item's transaction,
 * keyed by the root of the row's copy chain, so that a row applied twice in its tree shows as two rows.
 * Then behaves as the row says.
 */
@ImportProcessor(BATCH_TYPE)
export class ChaosRowProcessor extends BaseProcessor<ChaosRow> {
  /** Rows whose first attempt in this process threw a retryable error. */
  private readonly retried = new Set<string>();
  pauseMs = Number(process.env.CHAOS_ITEM_PAUSE_MS ?? 5);

  validateItem(item: ImportItem<ChaosRow>, ctx: ImportContext<ChaosRow>): true | string {
    const { fail, text, n } = item.sourceData;
    if (fail !== 'invalid') return true;
    const reason = hostileText(text, n);
    ctx.log.warn(`refusing ${reason}`, { reason });
    return `invalid: ${reason}`;
  }

  async processItem(item: ImportItem<ChaosRow>, ctx: ImportContext<ChaosRow>) {
    const { fail, text, n, mark } = item.sourceData;
    const message = hostileText(text, n);
    ctx.log.info(message, { message, n });
    await ctx.query(
      `INSERT INTO chaos_applied (root_id, item_id, batch_id, n, fail, mark, pid)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [item.originalItemId ?? item.id, item.id, item.batchId, n, fail, mark ?? null, process.pid],
    );
    if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    switch (fail) {
      case 'throw':
        throw new Error(`row ${n} failed: ${message}`);
      case 'nonError':
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw n % 3 === 0 ? message : n % 3 === 1 ? { row: n, message } : undefined;
      case 'skip':
        return ctx.skip(`skipped: ${message}`);
      case 'hang':
        return never;
      case 'transient':
        if (!this.retried.has(item.id)) {
          this.retried.add(item.id);
          throw new RetryableImportError(`row ${n} briefly unavailable: ${message}`);
        }
        break;
      case 'invalid':
      case null:
        break;
    }
    return { targetTable: 'chaos_applied', targetId: String(n) };
  }
}

/** Whether the module accepts `itemTimeoutMs` (issue 10, item 6): the hang rows need it. */
export function supportsItemTimeout(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { resolveOptions } = require('../../lib/utils/resolve-options.util') as {
      resolveOptions: (raw: unknown) => unknown;
    };
    resolveOptions({ itemTimeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** The Nest module of a suite process: the module on `url`, with the suite's processor. */
export function chaosAppModule(url: string, options: ReliableImportsModuleOptions): DynamicModule {
  @Module({})
  class ChaosAppModule {}
  return {
    module: ChaosAppModule,
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url,
        retryAttempts: 0,
        logging: false,
        extra: { max: 12, connectionTimeoutMillis: 5000 },
      }),
      ReliableImportsModule.forRoot(options),
    ],
    providers: [ChaosRowProcessor],
  };
}
