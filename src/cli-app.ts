import {
  type DynamicModule,
  type INestApplicationContext,
  Logger,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { mkdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ReliableImportsModule, reliableImportsMigrations } from '../lib';
import { codeOf, toError } from '../lib/utils/error-details.util';
import { isConnectionLoss } from '../lib/utils/transient-error.util';
import { CliError, EXIT, UsageError } from './cli-errors';
import { cliMessages } from './cli-messages';
import { DATABASE_UNAVAILABLE } from './error-report';

/** Where the tool keeps its embedded database when DATABASE_URL is not set. */
export const DEFAULT_PGLITE_DIR = '.reliable-imports/pglite';

/** How the tool connects and which processors it loads. */
export interface CliConfig {
  databaseUrl?: string;
  pgliteDir: string;
  /** `path/to/module.js` or `path/to/module.js#ExportName`, relative to the working directory. */
  module?: string;
  /** Connections the pool may open: a run needs one per lane and more for its own statements. */
  poolSize?: number;
  /** False for `migrate`, which starts on a database without the tables in order to create them. */
  checkSchema?: boolean;
}

/** Loads the user's Nest module that provides the processors. */
function loadUserModule(spec: string): Type<unknown> | DynamicModule {
  const [file, exportName] = spec.split('#');
  const path = isAbsolute(file) ? file : resolve(process.cwd(), file);
  let exports: Record<string, unknown>;
  try {
    // The user's module is only known at run time, and the CLI is CommonJS like the rest of the build.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exports = require(path) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(
      cliMessages.moduleNotLoaded({ file, reason: (error as Error).message.split('\n')[0] }),
    );
  }
  const candidates = exportName ? [exportName] : Object.keys(exports);
  for (const name of candidates) {
    const value = exports[name];
    if (typeof value === 'function' && Reflect.getMetadataKeys(value).length > 0) {
      return value as Type<unknown>;
    }
  }
  throw new UsageError(cliMessages.noNestModule({ file, exportName }));
}

function connectionOptions(config: CliConfig): TypeOrmModuleOptions {
  const common = {
    type: 'postgres' as const,
    autoLoadEntities: true,
    migrations: reliableImportsMigrations,
    retryAttempts: 0,
    logging: false,
  };
  if (config.databaseUrl) {
    return { ...common, url: config.databaseUrl, poolSize: config.poolSize };
  }
  let driver: unknown;
  try {
    // Optional: only needed when no DATABASE_URL is given, so loaded only then.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PGliteDriver } = require('typeorm-pglite') as typeof import('typeorm-pglite');
    // PGlite makes only the last directory of the path: in a fresh project, .reliable-imports is missing.
    mkdirSync(config.pgliteDir, { recursive: true });
    driver = new PGliteDriver({ dataDir: config.pgliteDir }).driver;
  } catch (error) {
    if (codeOf(toError(error)) !== 'MODULE_NOT_FOUND') {
      throw new UsageError(
        cliMessages.pgliteNotOpened({ dir: config.pgliteDir, reason: toError(error).message }),
      );
    }
    throw new UsageError(cliMessages.pgliteNotInstalled());
  }
  return { ...common, driver };
}

/** Starts a Nest application context with the module, the connection and (when given) the user's module. */
export async function createCliApp(config: CliConfig): Promise<INestApplicationContext> {
  const imports: Array<Type<unknown> | DynamicModule> = [
    TypeOrmModule.forRoot(connectionOptions(config)),
    ReliableImportsModule.forRoot({ checkSchema: config.checkSchema }),
  ];
  if (config.module) imports.push(loadUserModule(config.module));

  // TypeOrmModule logs its connection retries itself; the CLI reports the failure in its own words.
  Logger.overrideLogger(false);
  class CliModule {}
  const root: DynamicModule = { module: CliModule, imports };
  try {
    return await NestFactory.createApplicationContext(root, {
      logger: ['error'],
      abortOnError: false,
    });
  } catch (thrown) {
    throw connectionError(toError(thrown), config) ?? thrown;
  }
}

/**
 * Errors of DATABASE_URL itself, which no retry mends: an unknown host, a wrong user or password (class
 * 28), a database that does not exist (3D000).
 */
const MISCONFIGURED = new Set(['ENOTFOUND', 'EAI_FAIL', 'ERR_INVALID_URL', '3D000']);

/**
 * A failure to connect in the tool's words, or null for any other startup error. A server that refuses or
 * drops the connection may be restarting: exit 3, try again. A URL that names what does not exist (host,
 * database, user) is a configuration error: exit 2, fix it first.
 */
function connectionError(error: Error, config: CliConfig): CliError | null {
  const code = codeOf(error) ?? '';
  const where = config.databaseUrl
    ? cliMessages.databaseAt({ url: redact(config.databaseUrl) })
    : '';
  if (isConnectionLoss(error)) {
    return new CliError(
      DATABASE_UNAVAILABLE,
      cliMessages.databaseUnavailable({ where, reason: error.message }),
      EXIT.interrupted,
      { cause: error },
    );
  }
  if (MISCONFIGURED.has(code) || code.startsWith('28')) {
    return new CliError(
      'DATABASE_CONFIG',
      cliMessages.databaseMisconfigured({ where, reason: error.message }),
      EXIT.usage,
      { cause: error },
    );
  }
  return null;
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
