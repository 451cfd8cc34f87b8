import type { Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { closeTestingModule } from '../support/close-testing-module';
import {
  BaseProcessor,
  BatchService,
  ImportProcessor,
  InvalidProcessorError,
  type ImportProcessorOptions,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Options as a JavaScript user, or a spread of a config object, can pass them past the compiler. */
const loose = (options: Record<string, unknown>) => options as ImportProcessorOptions;

@ImportProcessor(loose({ batchType: 'misspelt', contineOnError: false, itemTimeoutMs: 'soon' }))
class MisspeltOptionsProcessor extends BaseProcessor<Row> {
  processItem(): void {}
}

@ImportProcessor(loose({ batchType: 7 }))
class NumericTypeProcessor extends BaseProcessor<Row> {
  processItem(): void {}
}

@ImportProcessor({ batchType: 'careful', continueOnError: false, itemTimeoutMs: 1000 })
class CarefulProcessor extends BaseProcessor<Row> {
  processItem(item: { sourceData: Row }): void {
    if (item.sourceData.n === 1) throw new Error('one is not allowed');
  }
}

describe('@ImportProcessor() options, checked at startup', () => {
  const database = useTestDatabase();

  /** Starts an app with the providers; runs `work` on it, or returns the error of its start. */
  async function start(
    providers: Provider[],
    work: (batches: BatchService) => Promise<void> = async () => {},
  ): Promise<unknown> {
    const moduleRef = await Test.createTestingModule({
      imports: moduleImports(database.db.url),
      providers,
    }).compile();
    try {
      await moduleRef.init();
      await work(moduleRef.get(BatchService));
      return null;
    } catch (error) {
      return error;
    } finally {
      await closeTestingModule(moduleRef);
    }
  }

  it('refuses a misspelt option and a wrong type in one error naming the class and the fix', async () => {
    const error = await start([MisspeltOptionsProcessor]);
    expect(error).toBeInstanceOf(InvalidProcessorError);
    const { message, className, problems } = error as InvalidProcessorError;
    expect(className).toBe('MisspeltOptionsProcessor');
    expect(problems).toEqual([
      '"contineOnError" is not an option (did you mean "continueOnError"?); the options are: batchType, continueOnError, itemTimeoutMs, requireApproval, maxFailures, maxFailureRate, failureRateMinItems, retention, scrub',
      'itemTimeoutMs must be a whole number of milliseconds from 100 to 86400000 (a day); got "soon"',
    ]);
    expect(message.split('\n')).toEqual([
      'Import processor class ("MisspeltOptionsProcessor") has invalid @ImportProcessor() options:',
      ...problems.map((problem) => `  - ${problem}`),
      'Fix them where "MisspeltOptionsProcessor" is declared.',
    ]);
  });

  it('refuses a batch type that is not a string', async () => {
    const error = await start([NumericTypeProcessor]);
    expect(error).toMatchObject({
      className: 'NumericTypeProcessor',
      problems: ['batchType must be a string such as "customer_data"; got 7'],
    });
  });

  it('starts with valid options, and they apply', async () => {
    const error = await start([CarefulProcessor], async (batches) => {
      const batch = await batches.createBatch('careful', [{ n: 0 }, { n: 1 }, { n: 2 }]);
      // continueOnError: false stops at the first failure; the row after it stays pending.
      expect(await batches.processBatch(batch.id)).toMatchObject({
        status: 'failed',
        completedItems: 1,
        failedItems: 1,
        pendingItems: 1,
      });
    });
    expect(error).toBeNull();
  });
});
