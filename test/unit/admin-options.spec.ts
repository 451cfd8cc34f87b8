import type { CanActivate } from '@nestjs/common';
import { InvalidOptionsError } from '../../lib';
import { resolveAdminOptions } from '../../lib/admin/resolve-admin-options.util';

class Guard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

function problemsOf(options: unknown): readonly string[] {
  try {
    resolveAdminOptions(options as never);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    return (error as InvalidOptionsError).problems;
  }
  throw new Error('the options were taken');
}

describe('the admin module options (resolveAdminOptions)', () => {
  it('gives the defaults to a registration with a guard', () => {
    expect(resolveAdminOptions({ guards: [Guard] })).toEqual({
      path: 'imports-admin',
      guards: [Guard],
      imports: [],
      allowUnauthenticated: false,
      csrfHeader: 'x-reliable-imports-request',
      ui: true,
    });
  });

  it('takes ui: false (the API only) and refuses a ui that is not a boolean', () => {
    expect(resolveAdminOptions({ guards: [Guard], ui: false }).ui).toBe(false);
    expect(problemsOf({ guards: [Guard], ui: 'no' })).toEqual([
      'ui must be true (serve the admin page) or false (the API only); got "no"',
    ]);
  });

  it('takes a guard instance, a nested path without its slashes, a header in lower case', () => {
    const guard = new Guard();
    expect(
      resolveAdminOptions({ guards: [guard], path: '/ops/imports/', csrfHeader: 'X-Admin' }),
    ).toMatchObject({ guards: [guard], path: 'ops/imports', csrfHeader: 'x-admin' });
  });

  it.each([undefined, {}, { guards: [] }, { allowUnauthenticated: 'yes' }])(
    'refuses %p: no guard, and says both fixes',
    (options) => {
      const [problem] = problemsOf(options);
      expect(problem).toContain('register({ guards: [AdminGuard] })');
      expect(problem).toContain('allowUnauthenticated: true');
    },
  );

  it.each(['v1.admin', 'a/b-c/d_e', '.well-known-ish'])('takes the path %p', (path) => {
    expect(resolveAdminOptions({ guards: [Guard], path }).path).toBe(path);
  });

  it('takes no guard when allowUnauthenticated is true', () => {
    expect(resolveAdminOptions({ allowUnauthenticated: true }).guards).toEqual([]);
  });

  it('lists every problem at once, each with what was given', () => {
    const problems = problemsOf({
      path: '../etc passwd',
      guards: [Guard, 'AdminGuard', null],
      csrfHeader: 'bad header: 1',
    });
    expect(problems).toEqual([
      expect.stringContaining('got "../etc passwd"'),
      expect.stringContaining('guards[1]'),
      expect.stringContaining('guards[2]'),
      expect.stringContaining('got "bad header: 1"'),
    ]);
  });

  it.each(['', '/', 'a//b', 'a b', 'a?b', ':id', '..', 'a/./b', 'a/..'])(
    'refuses the path %p',
    (path) => {
      expect(problemsOf({ guards: [Guard], path })).toEqual([
        expect.stringContaining('must be a URL path'),
      ]);
    },
  );
});

describe('the admin module without class-validator', () => {
  afterEach(() => {
    jest.resetModules();
  });

  it('leaves the library loadable, and refuses register() naming the packages to install', () => {
    jest.resetModules();
    jest.doMock('class-validator', () => {
      throw new Error("Cannot find module 'class-validator'");
    });
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded with the mock in place
      const lib = require('../../lib') as typeof import('../../lib');
      expect(typeof lib.ReliableImportsModule.forRoot).toBe('function');
      expect(() => lib.ReliableImportsAdminModule.register({ guards: [Guard] })).toThrow(
        /install them \(npm install class-validator class-transformer\)/,
      );
    });
    jest.dontMock('class-validator');
  });
});
