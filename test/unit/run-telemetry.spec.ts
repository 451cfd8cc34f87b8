import type { ImportBatch, ImportItem } from '../../lib';
import type { DatabaseAdapter } from '../../lib/processing/database-adapter';
import { ImportTelemetry } from '../../lib/telemetry/import-telemetry';
import { errorTypeOf, RunTelemetry } from '../../lib/telemetry/run-telemetry';

const batch = { id: 'b', batchType: 'customer_data' } as ImportBatch;
const item = { id: 'i', itemIndex: 0 } as ImportItem<object>;

describe('telemetry with @opentelemetry/api installed and no SDK registered', () => {
  // No statement runs: the gauge that would read the database is registered only with a metrics SDK.
  const telemetry = new ImportTelemetry({} as DatabaseAdapter);

  it('records nothing: the run span is not recorded, and a row attempt is one shared constant', () => {
    const run = telemetry.startRun(batch, 'worker');
    expect(run).not.toBe(RunTelemetry.off);
    expect(run.spanContext).toBeNull();
    const first = run.startAttempt(item, 1);
    expect(run.startAttempt(item, 2)).toBe(first);
    expect(run.claimStarted()).toBe(0);
    expect(run.within(() => 'ran')).toBe('ran');
    expect(first.within(() => 'ran')).toBe('ran');
    first.end('failed', { error: new Error('x') });
    run.end('finished');
  });
});

describe('errorTypeOf', () => {
  it.each([
    ['the stored code', { error: new Error('x'), code: 'BAD_ROW' }, 'BAD_ROW'],
    ['the error code', { error: Object.assign(new Error('x'), { code: '40001' }) }, '40001'],
    ['the name, when no code', { error: new TypeError('x') }, 'TypeError'],
    ['a cut code', { error: new Error('x'), code: 'C'.repeat(300) }, 'C'.repeat(100)],
  ])('is %s', (_case, failure, expected) => {
    expect(errorTypeOf(failure)).toBe(expected);
  });
});
