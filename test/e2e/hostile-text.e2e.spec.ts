import {
  BaseProcessor,
  ImportProcessor,
  type BatchContext,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
  type ItemStatus,
  type ValidationResult,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

/** Half of 🌙: what `name.slice(0, 10)` of "Cafe Lune🌙 Paris" quotes. */
const HALF_EMOJI = 'Cafe Lune🌙 Paris'.slice(0, 10);

const throwingToString = (): object => ({
  toString() {
    throw new Error('toString says no');
  },
});

const throwingGetter = <T extends object>(target: T, key: string): T =>
  Object.defineProperty(target, key, {
    enumerable: true,
    get() {
      throw new Error(`${key} says no`);
    },
  });

const revokedProxy = (target: object): object => {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
};

interface Case {
  status: ItemStatus;
  validate?: () => unknown;
  process?: (ctx: ImportContext<Row>) => unknown;
}

/** Each thing a processor may return, throw or log that PostgreSQL cannot store as it is. */
const CASES: Record<string, Case> = {
  'thrown NUL': { status: 'failed', process: () => fail(new Error('bad\u0000byte')) },
  'thrown half emoji': { status: 'failed', process: () => fail(new Error(HALF_EMOJI)) },
  'thrown 1 MB message': { status: 'failed', process: () => fail(new Error('m'.repeat(1 << 20))) },
  'thrown string': { status: 'failed', process: () => fail('a\u0000string') },
  'thrown number': { status: 'failed', process: () => fail(42) },
  'thrown null': { status: 'failed', process: () => fail(null) },
  'thrown undefined': { status: 'failed', process: () => fail(undefined) },
  'thrown object whose toString throws': {
    status: 'failed',
    process: () => fail(throwingToString()),
  },
  'thrown object whose message getter throws': {
    status: 'failed',
    process: () => fail(throwingGetter({}, 'message')),
  },
  'Error whose message getter throws': {
    status: 'failed',
    process: () => fail(throwingGetter(new RangeError('x'), 'message')),
  },
  'Error whose name and stack getters throw': {
    status: 'failed',
    // The stack first: redefining it makes V8 build the old one, which reads the name.
    process: () => fail(throwingGetter(throwingGetter(new TypeError('named'), 'stack'), 'name')),
  },
  'revoked Proxy': { status: 'failed', process: () => fail(revokedProxy(new Error('x'))) },
  'Proxy whose every read throws': {
    status: 'failed',
    process: () =>
      fail(
        new Proxy(new Error('x'), {
          get() {
            throw new Error('trap says no');
          },
        }),
      ),
  },
  'Error whose cause is itself': {
    status: 'failed',
    process: () => {
      const error = new Error('loop\u0000');
      error.cause = error;
      fail(error);
    },
  },
  'reason with NUL': { status: 'failed', validate: () => ['fine', 'a\u0000b'] },
  'reason with half emoji': { status: 'failed', validate: () => `name ${HALF_EMOJI}` },
  'reasons that are not strings': {
    status: 'failed',
    validate: () => [1, null, throwingToString(), Symbol('s')],
  },
  'skip with NUL': { status: 'skipped', process: (ctx) => ctx.skip('x\u0000y') },
  'skip with half emoji': { status: 'skipped', process: (ctx) => ctx.skip(HALF_EMOJI) },
  'skip with a number': { status: 'skipped', process: (ctx) => ctx.skip(7 as unknown as string) },
  'skip with an object whose toString throws': {
    status: 'skipped',
    process: (ctx) => ctx.skip(throwingToString() as unknown as string),
  },
  'log with NUL': { status: 'completed', process: (ctx) => ctx.log.info('log\u0000ged') },
  'log with half emoji': { status: 'completed', process: (ctx) => ctx.log.warn(HALF_EMOJI) },
  'log message that is not a string': {
    status: 'completed',
    process: (ctx) => ctx.log.info(throwingToString() as unknown as string),
  },
  'log details with a cycle': {
    status: 'completed',
    process: (ctx) => {
      const details: Record<string, unknown> = {};
      details.self = details;
      ctx.log.info('cycle', details);
    },
  },
  'log details with a BigInt': {
    status: 'completed',
    process: (ctx) => ctx.log.info('bigint', { id: 1n }),
  },
  'log details whose getter throws': {
    status: 'completed',
    process: (ctx) => ctx.log.info('getter', throwingGetter({}, 'boom')),
  },
  'log details behind a revoked Proxy': {
    status: 'completed',
    process: (ctx) => ctx.log.info('proxy', revokedProxy({}) as Record<string, unknown>),
  },
  'result whose targetTable is 300 characters': {
    status: 'failed',
    process: () => ({ targetTable: 't'.repeat(300) }),
  },
  'result of 17 MB': { status: 'failed', process: () => ({ blob: 'b'.repeat(17 << 20) }) },
  'result whose targetId is an object': {
    status: 'completed',
    process: () => ({ targetTable: 'ledger', targetId: { year: 2026, n: 7 } }),
  },
};

function fail(thrown: unknown): never {
  throw thrown;
}

interface Row {
  case: string;
}

@ImportProcessor()
class HostileProcessor extends BaseProcessor<Row> {
  validateBatch(batch: ImportBatch): ValidationResult {
    return batch.metadata.refuse ? ['empty file', 'header\u0000'] : true;
  }

  onBatchStart(batch: ImportBatch, _ctx: BatchContext): void {
    if (batch.metadata.startFails) throw new Error(`start ${HALF_EMOJI}\u0000`);
  }

  validateItem(item: ImportItem<Row>): ValidationResult {
    return (CASES[item.sourceData.case]?.validate?.() ?? true) as ValidationResult;
  }

  processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): object | void {
    return CASES[item.sourceData.case]?.process?.(ctx) as object | void;
  }
}

describe('hostile text from a processor', () => {
  const t = useTestApp([HostileProcessor], { module: { maxAttempts: 1 } });

  describe('each case is recorded, and the row after it runs', () => {
    const items = new Map<string, ImportItem<Row>>();

    it.each(Object.entries(CASES))('records "%s"', async (name, { status }) => {
      const batch = await t.batches.createBatch('hostile', [{ case: name }, { case: 'plain' }]);
      const summary = await t.batches.processBatch(batch.id);
      expect(summary).toMatchObject({
        status: status === 'failed' ? 'completed_with_errors' : 'completed',
        errorMessage: null,
      });
      const [item, plain] = await t.batches.getItems<Row>(batch.id);
      expect(item.status).toBe(status);
      if (status !== 'completed') expect(item.errorMessage).toEqual(expect.any(String));
      // No stack unless asked for.
      expect(item.errorDetails?.stack).toBeUndefined();
      expect(plain.status).toBe('completed');
      items.set(name, item);
    });

    it('shows a NUL or half a character as U+FFFD and keeps the original escaped', () => {
      expect(items.get('thrown NUL')).toMatchObject({
        errorMessage: 'bad\uFFFDbyte',
        errorDetails: { name: 'Error', originalMessage: '"bad\\u0000byte"' },
      });
      expect(items.get('thrown half emoji')).toMatchObject({
        errorMessage: 'Cafe Lune\uFFFD',
        errorDetails: { originalMessage: '"Cafe Lune\\ud83c"' },
      });
      expect(items.get('thrown string')).toMatchObject({
        errorMessage: 'a\uFFFDstring',
        errorDetails: { originalMessage: '"a\\u0000string"' },
      });
      expect(items.get('reason with NUL')).toMatchObject({
        errorMessage: 'fine; a\uFFFDb',
        errorDetails: { reasons: ['fine', 'a\uFFFDb'], originalMessage: '"fine; a\\u0000b"' },
      });
      expect(items.get('reason with half emoji')!.errorMessage).toBe('name Cafe Lune\uFFFD');
      expect(items.get('skip with NUL')).toMatchObject({
        errorMessage: 'x\uFFFDy',
        errorDetails: { name: 'SkippedItem', originalMessage: '"x\\u0000y"' },
      });
      expect(items.get('skip with half emoji')!.errorMessage).toBe('Cafe Lune\uFFFD');
    });

    it('describes what cannot be read', () => {
      const messages = (name: string) => items.get(name)!.errorMessage;
      expect(messages('thrown number')).toBe('Non-error thrown: 42');
      expect(messages('thrown null')).toBe('Non-error thrown: null');
      expect(messages('thrown undefined')).toBe('Non-error thrown: undefined');
      expect(messages('thrown object whose toString throws')).toBe(
        'Non-error thrown: [unprintable object]',
      );
      expect(messages('thrown object whose message getter throws')).toBe(
        'Non-error thrown: [object Object]',
      );
      expect(messages('Error whose message getter throws')).toBe('RangeError');
      expect(items.get('Error whose name and stack getters throw')).toMatchObject({
        errorMessage: 'named',
        errorDetails: { name: 'TypeError' },
      });
      expect(messages('revoked Proxy')).toBe('Non-error thrown: [unprintable object]');
      expect(messages('Proxy whose every read throws')).toBe('Error');
      expect(messages('Error whose cause is itself')).toBe('loop\uFFFD');
      expect(messages('reasons that are not strings')).toBe(
        '1; null; [unprintable object]; Symbol(s)',
      );
      expect(messages('skip with a number')).toBe('7');
      expect(messages('skip with an object whose toString throws')).toBe('[unprintable object]');
    });

    it("refuses a result the target columns or a row cannot hold, as the item's failure", () => {
      expect(items.get('result whose targetTable is 300 characters')?.errorMessage).toContain(
        'targetTable is longer than 255 characters',
      );
      expect(items.get('result of 17 MB')?.errorMessage).toMatch(/over the limit of .* \(16 MiB\)/);
      expect(items.get('result whose targetId is an object')).toMatchObject({
        targetTable: 'ledger',
        targetId: '{"year":2026,"n":7}',
      });
    });

    it('cuts a long message with a marker', () => {
      const message = items.get('thrown 1 MB message')!.errorMessage!;
      expect(message).toBe(`${'m'.repeat(10_000)}… [cut: ${(1 << 20) - 10_000} more characters]`);
    });

    const logsOf = async (name: string) =>
      t.batches.getLogs(items.get(name)!.batchId, { itemId: items.get(name)!.id });

    it('stores log messages made storable, with the original in the details', async () => {
      expect(await logsOf('log with NUL')).toEqual([
        expect.objectContaining({
          message: 'log\uFFFDged',
          details: { originalMessage: '"log\\u0000ged"' },
        }),
      ]);
      expect(await logsOf('log with half emoji')).toEqual([
        expect.objectContaining({ level: 'warn', message: 'Cafe Lune\uFFFD' }),
      ]);
      expect(await logsOf('log message that is not a string')).toEqual([
        expect.objectContaining({ message: '[unprintable object]', details: null }),
      ]);
      // The failure's own log entry quotes the message as thrown, made storable the same way.
      const [failure] = await logsOf('thrown NUL');
      expect(failure).toMatchObject({
        level: 'error',
        message: 'Item 0 failed: bad\uFFFDbyte',
        details: { originalMessage: '"Item 0 failed: bad\\u0000byte"' },
      });
    });

    it('describes log details that JSON cannot hold', async () => {
      const described = async (name: string) =>
        ((await logsOf(name))[0].details as { unstorableDetails: string }).unstorableDetails;
      expect(await described('log details with a cycle')).toMatch(/^details\.self refers back/);
      expect(await described('log details with a BigInt')).toMatch(/^details\.id is a BigInt/);
      expect(await described('log details whose getter throws')).toMatch(
        /^details\.\w+ could not be read: reading it threw Error: boom says no/,
      );
      expect(await described('log details behind a revoked Proxy')).toMatch(
        /^details could not be read: /,
      );
    });
  });

  it('ends a batch stopped on a hostile error failed, with the reason storable', async () => {
    const batch = await t.batches.createBatch('hostile', [
      { case: 'plain' },
      { case: 'thrown NUL' },
      { case: 'plain' },
    ]);
    const summary = await t.batches.processBatch(batch.id, { continueOnError: false });
    expect(summary).toMatchObject({ status: 'failed', completedItems: 1, failedItems: 1 });
    expect(summary.errorMessage).toMatch(/^Stopped at item 1, which failed: bad\uFFFDbyte\./);
    const [, failed, after] = await t.batches.getItems(batch.id);
    expect(failed).toMatchObject({ status: 'failed', errorMessage: 'bad\uFFFDbyte' });
    expect(after.status).toBe('pending');
  });

  it('stores validateBatch reasons storable in the batch and the original in its log', async () => {
    const batch = await t.batches.createBatch('hostile', [{ case: 'plain' }], {
      metadata: { refuse: true },
    });
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({
      status: 'failed',
      errorMessage: 'Batch validation failed: empty file; header\uFFFD',
    });
    const [log] = await t.batches.getLogs(batch.id, { level: 'error' });
    expect(log.details).toEqual({
      reasons: ['empty file', 'header\uFFFD'],
      originalMessage: '"Batch validation failed: empty file; header\\u0000"',
    });
  });

  it("stores a hook's hostile error as the batch's stop reason", async () => {
    const batch = await t.batches.createBatch('hostile', [{ case: 'plain' }], {
      metadata: { startFails: true },
    });
    await expect(t.batches.processBatch(batch.id)).rejects.toThrow('start Cafe Lune');
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      status: 'failed',
      lockedBy: null,
      errorMessage: 'Processing stopped: start Cafe Lune\uFFFD\uFFFD',
    });
    const [log] = await t.batches.getLogs(batch.id, { level: 'error' });
    expect(log.details).toMatchObject({
      originalMessage: '"Processing stopped: start Cafe Lune\\ud83c\\u0000"',
    });
  });
});

describe('storeErrorStacks', () => {
  const t = useTestApp([HostileProcessor], {
    module: { maxAttempts: 1, storeErrorStacks: true },
  });

  it('keeps the stack, made storable, of failures other than validation', async () => {
    const batch = await t.batches.createBatch('hostile', [
      { case: 'thrown NUL' },
      { case: 'reason with NUL' },
      { case: 'Error whose name and stack getters throw' },
      { case: 'plain' },
    ]);
    await t.batches.processBatch(batch.id);
    const [thrown, invalid, noStack, plain] = await t.batches.getItems(batch.id);
    expect(thrown.errorDetails?.stack).toMatch(/^Error: bad\uFFFDbyte\n\s+at /);
    expect(invalid.errorDetails?.stack).toBeUndefined();
    expect(noStack).toMatchObject({ status: 'failed', errorDetails: { name: 'TypeError' } });
    expect(noStack.errorDetails?.stack).toBeUndefined();
    expect(plain.status).toBe('completed');
  });
});
