import {
  BaseProcessor,
  ImportProcessor,
  type ImportItem,
  type ProcessBatchOptions,
} from '../../lib';
import { RUN_OPTION_KEYS } from '../../lib/utils/run-options.util';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Fails every row, so that a batch has rows to reprocess. */
@ImportProcessor()
class RefusingProcessor extends BaseProcessor<Row> {
  processItem(): void {
    throw new Error('not this one');
  }
}

/** Applies nothing and completes every row. */
@ImportProcessor()
class NoopProcessor extends BaseProcessor<Row> {
  processItem(_item: ImportItem<Row>): void {}
}

/**
 * A wrong value of every run option, and what its message says. Typed by the options, so that a new run
 * option is tested here as soon as it exists.
 */
const WRONG: Record<keyof ProcessBatchOptions, [value: unknown, phrase: string | RegExp]> = {
  continueOnError: ['no', 'options.continueOnError must be true or false (or left out); got "no"'],
  concurrency: [0, /concurrency must be a whole number from 1 to 64; got 0/],
  commitEvery: [
    0,
    'commitEvery must be a whole number from 1 (a transaction per item) to 10000; got 0.',
  ],
  itemTimeoutMs: [99, 'itemTimeoutMs must be a whole number from 100 to 86400000; got 99.'],
  maxAttempts: [
    0,
    'options.maxAttempts must be a whole number from 1 (no retry) to 100 (or left out); got 0',
  ],
  dryRun: ['yes', 'options.dryRun must be true or false (or left out); got "yes"'],
  maxFailures: [-1, 'options.maxFailures must be a whole number from 0 to 2147483647'],
  maxFailureRate: [1.5, 'options.maxFailureRate must be a number from 0 to 1 (0.1 is 10%)'],
  failureRateMinItems: [0.5, 'options.failureRateMinItems must be a whole number from 1 to'],
};

describe('run options: every call checks every run option before it touches anything', () => {
  const t = useTestApp([RefusingProcessor, NoopProcessor]);

  it('has a wrong value to try for every run option of the table', () => {
    expect(Object.keys(WRONG).sort()).toEqual([...RUN_OPTION_KEYS].sort());
  });

  it.each(Object.entries(WRONG))(
    'refuses a wrong %s in processBatch, reprocessBatch and import, and leaves the batch as it was',
    async (key, [value, phrase]) => {
      const options = { [key]: value } as ProcessBatchOptions;
      const batch = await t.batches.createBatch('noop', [{ n: 1 }]);
      await expect(t.batches.processBatch(batch.id, options)).rejects.toThrow(phrase);
      // A wrong option is the caller's mistake, not the batch's: it stays pending, ready to run.
      expect((await t.batches.getBatch(batch.id)).status).toBe('pending');
      await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({ completedItems: 1 });

      const failed = await t.batches.import('refusing', [{ n: 2 }]);
      await expect(t.batches.reprocessBatch(failed.batchId, options)).rejects.toThrow(phrase);
      expect(await t.batches.listBatches({ parentBatchId: failed.batchId })).toEqual([]);

      const before = (await t.batches.listBatches({ limit: 1000 })).length;
      await expect(t.batches.import('noop', [{ n: 3 }], options)).rejects.toThrow(phrase);
      expect(await t.batches.listBatches({ limit: 1000 })).toHaveLength(before);
    },
  );

  it('refuses a commitEvery that is not a whole number from 1 to 10000', async () => {
    const batch = await t.batches.createBatch('noop', [{ n: 5000 }]);
    await expect(t.batches.processBatch(batch.id, { commitEvery: 2.5 })).rejects.toThrow(
      /commitEvery must be a whole number .* got 2\.5\./,
    );
    expect((await t.batches.getBatch(batch.id)).status).toBe('pending');
  });
});
