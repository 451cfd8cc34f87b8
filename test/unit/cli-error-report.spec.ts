import { QueryFailedError } from 'typeorm';
import {
  ImportBatchNotFoundError,
  LeaseLostError,
  ProcessingInterruptedError,
  ProcessingStoppedError,
  UnknownBatchTypeError,
} from '../../lib';
import { CliError, EXIT, UsageError } from '../../src/cli-errors';
import { reportError } from '../../src/error-report';

const BATCH_ID = '0b6c1f0e-1111-4000-8000-000000000001';
const MODULE = 'dist/imports.module.js#ImportsModule';

/** A driver error as TypeORM throws it: the SQLSTATE is on `driverError.code`. */
function queryFailed(code: string, message: string): QueryFailedError {
  return new QueryFailedError('SELECT 1', [], Object.assign(new Error(message), { code }));
}

describe('how the command-line tool reports an error (code, hint, exit status)', () => {
  it.each([
    [
      'ProcessingInterruptedError',
      new ProcessingInterruptedError(BATCH_ID, new Error('Connection terminated unexpectedly')),
      'PROCESSING_INTERRUPTED',
    ],
    ['ProcessingStoppedError', new ProcessingStoppedError(BATCH_ID), 'PROCESSING_STOPPED'],
    ['LeaseLostError', new LeaseLostError(BATCH_ID, 3), 'LEASE_LOST'],
  ])('%s: interrupted (3), with the command that goes on', (_name, error, code) => {
    expect(reportError(error, { module: MODULE })).toEqual({
      code,
      message: error.message,
      hint: `Nothing is lost: run "reliable-imports --module ${MODULE} process ${BATCH_ID}" to go on where it stopped.`,
      status: EXIT.interrupted,
    });
  });

  it('quotes a module path a shell would split, and names a placeholder when none was given', () => {
    const error = new ProcessingStoppedError(BATCH_ID);
    expect(reportError(error, { module: 'my dir/m.js#M' }).hint).toContain(
      `reliable-imports --module 'my dir/m.js#M' process`,
    );
    expect(reportError(error, {}).hint).toContain(
      'reliable-imports --module <your compiled module.js#Module> process',
    );
  });

  it('a lost connection outside processing: interrupted (3)', () => {
    const lost = reportError(new Error('Connection terminated unexpectedly'), {});
    expect(lost).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: EXIT.interrupted });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    expect(reportError(refused, {})).toMatchObject({ status: EXIT.interrupted });
  });

  it("the module's other errors are about the input: usage (2)", () => {
    expect(reportError(new ImportBatchNotFoundError(BATCH_ID), {})).toEqual({
      code: 'BATCH_NOT_FOUND',
      message: new ImportBatchNotFoundError(BATCH_ID).message,
      status: EXIT.usage,
    });
  });

  it('hints --module for an unknown type only when no processor is registered at all, by code and context', () => {
    const none = reportError(new UnknownBatchTypeError('contact', []), {});
    expect(none).toMatchObject({ code: 'UNKNOWN_BATCH_TYPE', status: EXIT.usage });
    expect(none.hint).toContain('--module dist/imports.module.js#ImportsModule');
    expect(
      reportError(new UnknownBatchTypeError('contact', ['customer']), {}).hint,
    ).toBeUndefined();
  });

  it('a missing table, by its SQLSTATE: usage (2), run migrate', () => {
    const report = reportError(
      queryFailed('42P01', 'relation "import_batches" does not exist'),
      {},
    );
    expect(report).toMatchObject({ code: '42P01', status: EXIT.usage });
    expect(report.hint).toBe(
      'The import tables do not exist yet: run "reliable-imports migrate" first.',
    );
    // The same text without the code gets no hint: hints never come from message text.
    expect(reportError(new Error('relation "import_batches" does not exist'), {})).toEqual({
      code: 'UNEXPECTED',
      message: 'relation "import_batches" does not exist',
      status: EXIT.itemsFailed,
    });
  });

  it("the tool's own errors keep their code and status", () => {
    expect(reportError(new UsageError('Give a file.'), {})).toEqual({
      code: 'USAGE',
      message: 'Give a file.',
      status: EXIT.usage,
    });
    expect(reportError(new CliError('DATABASE_UNAVAILABLE', 'down', EXIT.interrupted), {})).toEqual(
      {
        code: 'DATABASE_UNAVAILABLE',
        message: 'down',
        status: EXIT.interrupted,
      },
    );
  });

  it('anything else thrown: 1, with its own code when it has one', () => {
    expect(reportError(queryFailed('23505', 'duplicate key'), {})).toMatchObject({
      code: '23505',
      status: EXIT.itemsFailed,
    });
    expect(reportError('a string', {})).toEqual({
      code: 'UNEXPECTED',
      message: 'a string',
      status: EXIT.itemsFailed,
    });
  });
});
