/** Nest 12 and @nestjs/typeorm 12 ship ES modules only, so they are transformed with SWC like our sources. */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  // The sample app imports the library by its package name, as users do.
  moduleNameMapper: { '^nestjs-reliable-imports$': '<rootDir>/lib' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  transform: {
    '^.+\\.(t|j|mj|cj)s$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|@electric-sql|file-type|@standard-schema|strtok3|token-types|@tokenizer|uint8array-extras)/)',
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testEnvironment: '<rootDir>/test/support/test-environment.ts',
  testTimeout: 60000,
  maxWorkers: 2,
};
