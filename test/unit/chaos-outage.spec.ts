import { errorText, isOutage } from '../chaos/suite-kit';

/**
 * The fault suite tells an outage it caused from a real failure by the error's text. A child reports its
 * error as JSON (a plain object): found by CI, where a child's cancelBatch cut by pg_terminate_backend was
 * read as "[object Object]" and called a violation.
 */
describe('the fault suite reads errors from children like errors here', () => {
  const terminated = {
    name: 'QueryFailedError',
    code: '57P01',
    message: 'terminating connection due to administrator command',
  };

  it('reads a plain object with name, code and message', () => {
    expect(errorText(terminated)).toBe(
      'QueryFailedError (57P01): terminating connection due to administrator command',
    );
  });

  it('calls a connection cut seen by a child an outage', () => {
    expect(isOutage(terminated)).toBe(true);
    expect(isOutage(Object.assign(new Error(terminated.message), { code: '57P01' }))).toBe(true);
  });

  it('does not call any other failure an outage', () => {
    expect(isOutage({ name: 'TypeError', message: 'x is not a function' })).toBe(false);
    expect(isOutage('[object Object]')).toBe(false);
  });
});
