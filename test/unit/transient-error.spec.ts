import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';
import { RetryableImportError } from '../../lib';
import { isConnectionLoss, isTransientError } from '../../lib/utils/transient-error.util';

const withCode = (message: string, code: string): Error =>
  Object.assign(new Error(message), { code });
const fromDriver = (message: string, code?: string): Error =>
  new QueryFailedError('COMMIT', [], Object.assign(new Error(message), code ? { code } : {}));

describe('isConnectionLoss', () => {
  it.each([
    [
      'a runner TypeORM released after its connection errored',
      new QueryRunnerAlreadyReleasedError(),
    ],
    [
      'a backend terminated by an administrator (57P01)',
      fromDriver('terminating connection due to administrator command', '57P01'),
    ],
    [
      'a crashed server (57P02)',
      fromDriver('terminating connection because of crash of another server process', '57P02'),
    ],
    [
      'a server that cannot take connections now (57P03)',
      withCode('the database system is starting up', '57P03'),
    ],
    ['the connection-exception class (08006)', fromDriver('connection failure', '08006')],
    ['a reset socket', withCode('read ECONNRESET', 'ECONNRESET')],
    ['a broken pipe', withCode('write EPIPE', 'EPIPE')],
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ["pg's dropped connection", fromDriver('Connection terminated unexpectedly')],
    [
      "pg's broken client",
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    ["pg-pool's connection timeout", new Error('Connection terminated due to connection timeout')],
  ])('is true for %s, which is transient', (_label, error) => {
    expect(isConnectionLoss(error)).toBe(true);
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ['a serialization failure', fromDriver('could not serialize access', '40001')],
    ['a deadlock', fromDriver('deadlock detected', '40P01')],
    [
      'a RetryableImportError, even about a connection',
      new RetryableImportError('Connection terminated by the API'),
    ],
  ])('is false for %s, which is transient all the same', (_label, error) => {
    expect(isConnectionLoss(error)).toBe(false);
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ['a unique violation', fromDriver('duplicate key value', '23505')],
    [
      "a processor's error that quotes a pg message",
      new Error('upload failed: Connection terminated unexpectedly'),
    ],
  ])('is false for %s', (_label, error) => {
    expect(isConnectionLoss(error)).toBe(false);
  });

  it('reads a hostile error without throwing', () => {
    const hostile = new Proxy(new Error('x'), {
      get() {
        throw new Error('trap');
      },
    });
    expect(isConnectionLoss(hostile)).toBe(false);
    expect(isTransientError(hostile)).toBe(false);
  });
});
