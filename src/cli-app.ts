import {
  type DynamicModule,
  type INestApplicationContext,
  Logger,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { isAbsolute, resolve } from 'node:path';
import { ReliableImportsModule, reliableImportsMigrations } from '../lib';
import { UsageError } from './cli-errors';

/** Where the tool keeps its embedded database when DATABASE_URL is not set. */
export const DEFAULT_PGLITE_DIR = '.reliable-imports/pglite';

/** How the tool connects and which processors it loads. */
export interface CliConfig {
  databaseUrl?: string;
  pgliteDir: string;
  /** `path/to/module.js` or `path/to/module.js#ExportName`, relative to the working directory. */
  module?: string;
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
      `Cannot load the module "${file}" given with --module (or RELIABLE_IMPORTS_MODULE): ${(error as Error).message.split('\n')[0]}. ` +
        `Point it at the compiled JavaScript file of the Nest module that provides your processors, e.g. --module dist/imports.module.js#ImportsModule.`,
    );
  }
  const candidates = exportName ? [exportName] : Object.keys(exports);
  for (const name of candidates) {
    const value = exports[name];
    if (typeof value === 'function' && Reflect.getMetadataKeys(value).length > 0) {
      return value as Type<unknown>;
    }
  }
  throw new UsageError(
    exportName
      ? `The module file "${file}" has no export "${exportName}" that is a Nest module. Check the name after "#".`
      : `The module file "${file}" exports no Nest module. Name it: --module ${file}#YourModule.`,
  );
}

function connectionOptions(config: CliConfig): TypeOrmModuleOptions {
  const common = {
    type: 'postgres' as const,
    autoLoadEntities: true,
    migrations: reliableImportsMigrations,
    retryAttempts: 0,
    logging: false,
  };
  if (config.databaseUrl) return { ...common, url: config.databaseUrl };
  let driver: unknown;
  try {
    // Optional: only needed when no DATABASE_URL is given, so loaded only then.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PGliteDriver } = require('typeorm-pglite') as typeof import('typeorm-pglite');
    driver = new PGliteDriver({ dataDir: config.pgliteDir }).driver;
  } catch {
    throw new UsageError(
      'DATABASE_URL is not set and the embedded database is not installed. Set DATABASE_URL=postgres://user@host:5432/db, ' +
        'or run: npm install @electric-sql/pglite typeorm-pglite',
    );
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
  } catch (error) {
    const message = (error as Error).message;
    if (
      /ECONNREFUSED|ENOTFOUND|getaddrinfo|connect|password authentication|does not exist/i.test(
        message,
      )
    ) {
      throw new UsageError(
        `Cannot connect to the database${config.databaseUrl ? ` at ${redact(config.databaseUrl)}` : ''}: ${message}. ` +
          'Check DATABASE_URL and that the server is running.',
      );
    }
    throw error;
  }
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
