import {
  BaseProcessor,
  ImportProcessor,
  RetryableImportError,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { ImportTelemetry } from '../../lib/telemetry/import-telemetry';
import { loadOpenTelemetry } from '../../lib/telemetry/opentelemetry-api';
import { RunTelemetry } from '../../lib/telemetry/run-telemetry';
import { useTestApp } from '../support/use-test-app';

// An application without @opentelemetry/api: requiring it fails, as it does when it is not installed.
jest.mock('@opentelemetry/api', () => {
  throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

interface Row {
  n: number;
}

@ImportProcessor()
class UntracedRowsProcessor extends BaseProcessor<Row> {
  readonly tries = new Map<number, number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    const { n } = item.sourceData;
    await ctx.query('SELECT 1');
    const tries = (this.tries.get(n) ?? 0) + 1;
    this.tries.set(n, tries);
    if (n === 1) throw new Error('row 1 is bad');
    if (n === 2 && tries === 1) throw new RetryableImportError('busy');
    if (n === 3) ctx.skip('nothing to do');
  }
}

describe('the module without @opentelemetry/api', () => {
  const t = useTestApp([UntracedRowsProcessor], {
    module: { maxAttempts: 3, retryDelayMs: 1, maxRetryDelayMs: 5 },
  });

  it('cannot load the API', () => {
    expect(loadOpenTelemetry()).toBeUndefined();
  });

  it('processes, retries, fails and skips rows as ever, one by one and in chunks, with no telemetry', async () => {
    const batch = { id: 'b', batchType: 'untraced_rows' } as ImportBatch;
    expect(t.app.get(ImportTelemetry).startRun(batch, 'w')).toBe(RunTelemetry.off);
    for (const commitEvery of [1, 2]) {
      const rows = Array.from({ length: 6 }, (_, n) => ({ n }));
      const summary = await t.batches.import('untraced_rows', rows, { commitEvery });
      expect(summary).toMatchObject({ completedItems: 4, failedItems: 1, skippedItems: 1 });
    }
    const dryRun = await t.batches.createBatch('untraced_rows', [{ n: 0 }, { n: 1 }]);
    expect(await t.batches.processBatch(dryRun.id, { dryRun: true })).toBeDefined();
    // No trace context is stored with any batch.
    const [{ traced }] = await t.dataSource.query<Array<{ traced: number }>>(
      `SELECT count(*)::int AS traced FROM import_batches WHERE trace_context IS NOT NULL`,
    );
    expect(traced).toBe(0);
  });
});
