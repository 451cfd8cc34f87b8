import { Logger } from '@nestjs/common';
import { ReliableImportsError, toHttpException, type ReliableImportsErrorCode } from '../../lib';

describe('toHttpException', () => {
  // The 500s are logged with their stack: quiet here.
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  it('answers a known code with its status', () => {
    expect(toHttpException(new ReliableImportsError('BATCH_NOT_FOUND', 'x')).getStatus()).toBe(404);
  });

  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    'answers a code named like an Object member (%s) with 500, not with what the prototype holds',
    (code) => {
      const error = new ReliableImportsError(code as ReliableImportsErrorCode, 'x');
      expect(toHttpException(error).getStatus()).toBe(500);
    },
  );
});
