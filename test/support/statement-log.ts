import { Logger as NestLogger } from '@nestjs/common';
import type { Logger } from 'typeorm';

/** A TypeORM logger that keeps every statement the data source sends (`typeorm: { logger }`). */
export class StatementLog implements Logger {
  statements: string[] = [];
  /** The values each statement was sent with, in the order of `statements`. */
  parameters: Array<unknown[] | undefined> = [];
  logQuery(query: string, parameters?: unknown[]): void {
    this.statements.push(query);
    this.parameters.push(parameters);
  }

  /** Forgets what was sent so far. */
  clear(): void {
    this.statements = [];
    this.parameters = [];
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** The module's warnings about prepared statements while `work` runs. */
export async function preparedStatementWarnings(work: () => Promise<void>): Promise<string[]> {
  const warn = jest.spyOn(NestLogger.prototype, 'warn');
  try {
    await work();
    return warn.mock.calls
      .map(([message]) => String(message))
      .filter((text) => text.includes('prepared statement'));
  } finally {
    warn.mockRestore();
  }
}
