import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { messages } from '../reliable-imports.messages';
import { codeOf } from '../utils/error-details.util';

/**
 * SQLSTATEs of a named statement the server connection does not hold (26000) or holds already (42P05):
 * what a pooler in transaction mode that cannot carry prepared statements answers once it lends another
 * server connection than the one the statement was prepared on.
 */
const NOT_ON_THIS_CONNECTION = new Set(['26000', '42P05']);

/**
 * Whether statements run as named prepared statements, and under which names. On until a statement finds
 * its prepared statement gone (a pooler that cannot carry them): then off for the process, with one warning.
 */
export class PreparedStatements {
  private readonly names = new Map<string, string>();
  /** Errors of statements that failed only because their prepared statement was gone. */
  private readonly gone = new WeakSet<object>();

  constructor(
    private enabled: boolean,
    private readonly logger: Logger,
  ) {}

  get on(): boolean {
    return this.enabled;
  }

  /**
   * The name of a text's prepared statement: from its digest, so that two texts never share a name, and
   * every process (and a pooler's server connection) knows one text under one name.
   */
  nameOf(text: string): string {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `ri_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.names.set(text, name);
    }
    return name;
  }

  /**
   * Whether a prepared statement failed because its server connection does not hold it. Such a failure
   * turns prepared statements off for good (nothing ran: the server refused the statement before
   * executing it), and is remembered, so that `wasGone` tells the work that must run again.
   */
  failedForGood(error: unknown): boolean {
    const code = typeof error === 'object' && error !== null ? codeOf(error as Error) : undefined;
    if (code === undefined || !NOT_ON_THIS_CONNECTION.has(code)) return false;
    this.gone.add(error as object);
    if (this.enabled) {
      this.enabled = false;
      this.logger.warn(messages.preparedStatementsOff({ code }));
    }
    return true;
  }

  /** Whether work failed only because a prepared statement was gone: it runs again, not counted a try. */
  wasGone(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.gone.has(error);
  }
}
