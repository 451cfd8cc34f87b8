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
 * The most texts run prepared by a process: each stays prepared on every connection of the pool (in the
 * server's memory and the driver's) for the connection's life, so a text built per row must not pile up.
 */
export const MAX_PREPARED_TEXTS = 500;

/**
 * Whether statements run as named prepared statements, and under which names. On until a statement finds
 * its prepared statement gone (a pooler that cannot carry them): then off for the process, with one warning.
 */
export class PreparedStatements {
  private readonly names = new Map<string, string>();
  private warnedOfTexts = false;
  /** Transactions (their query runners) that a statement found its prepared statement gone in. */
  private readonly spoilt = new WeakSet<object>();

  constructor(
    private enabled: boolean,
    private readonly logger: Logger,
  ) {}

  get on(): boolean {
    return this.enabled;
  }

  /**
   * The name of a text's prepared statement: from its digest, so that two texts never share a name, and
   * every process (and a pooler's server connection) knows one text under one name. Null past
   * `MAX_PREPARED_TEXTS` texts: the text runs unprepared.
   */
  nameOf(text: string): string | null {
    let name = this.names.get(text);
    if (name === undefined) {
      if (this.names.size >= MAX_PREPARED_TEXTS) {
        // Past the bound, a new text runs unprepared: one warning, since it is most likely built per row.
        if (!this.warnedOfTexts) {
          this.warnedOfTexts = true;
          this.logger.warn(messages.preparedTextsTooMany({ max: MAX_PREPARED_TEXTS }));
        }
        return null;
      }
      name = `ri_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.names.set(text, name);
    }
    return name;
  }

  /**
   * Whether a prepared statement failed because its server connection does not hold it. Such a failure
   * turns prepared statements off for good (nothing ran: the server refused the statement before
   * executing it).
   */
  failedForGood(error: unknown): boolean {
    const code = typeof error === 'object' && error !== null ? codeOf(error as Error) : undefined;
    if (code === undefined || !NOT_ON_THIS_CONNECTION.has(code)) return false;
    if (this.enabled) {
      this.enabled = false;
      this.logger.warn(messages.preparedStatementsOff({ code }));
    }
    return true;
  }

  /** Notes that a statement of the transaction on `runner` found its prepared statement gone. */
  spoil(runner: object): void {
    this.spoilt.add(runner);
  }

  /**
   * Whether the transaction on `runner` failed for a prepared statement gone: the transaction is aborted,
   * whatever its work made of the error (wrapped it, or went on to meet the aborted transaction).
   */
  wasGoneIn(runner: object): boolean {
    return this.spoilt.has(runner);
  }
}
