import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { messages } from '../reliable-imports.messages';
import { codeOf, readSafely } from '../utils/error-details.util';

/**
 * SQLSTATEs of a named statement the server connection does not hold (26000) or holds already (42P05):
 * what a pooler in transaction mode that cannot carry prepared statements answers once it lends another
 * server connection than the one the statement was prepared on.
 */
const NOT_ON_THIS_CONNECTION = new Set(['26000', '42P05']);

/**
 * Where PostgreSQL refuses to run a prepared statement whose result type changed since it was prepared
 * ("cached plan must not change result type", SQLSTATE 0A000, which other refusals share): told by the
 * routine, which no server locale translates.
 */
const RESULT_TYPE_CHANGED = { code: '0A000', routine: 'RevalidateCachedQuery' };

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
  /** How many times a text was renamed since its result type changed. */
  private readonly renames = new Map<string, number>();
  /** Transactions (their query runners) that a statement found its prepared statement gone (or stale) in. */
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
      name = digestName(text);
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

  /**
   * Whether a prepared statement failed because its result type changed since it was prepared on its
   * connection (a column added to a table it returns `*` of): the server refuses it there for good. The
   * text takes a new name, prepared afresh on every connection; nothing ran.
   */
  resultTypeChanged(error: unknown, text: string, name: string): boolean {
    if (typeof error !== 'object' || error === null) return false;
    if (codeOf(error as Error) !== RESULT_TYPE_CHANGED.code) return false;
    const routine = readSafely(readSafely(error, 'driverError'), 'routine');
    if (routine !== RESULT_TYPE_CHANGED.routine) return false;
    // Once per change, however many connections meet it: the name the others failed under is renamed.
    if (this.names.get(text) === name) {
      const renamed = (this.renames.get(text) ?? 0) + 1;
      this.renames.set(text, renamed);
      this.names.set(text, `${digestName(text)}_${renamed}`);
    }
    return true;
  }

  /** Notes that a statement of the transaction on `runner` found its prepared statement gone. */
  spoil(runner: object): void {
    this.spoilt.add(runner);
  }

  /**
   * Whether the transaction on `runner` failed for a prepared statement gone or stale: it is aborted,
   * whatever its work made of the error (wrapped it, or went on to meet the aborted transaction).
   */
  wasGoneIn(runner: object): boolean {
    return this.spoilt.has(runner);
  }
}

/** A text's name from its digest: one text, one name, in every process. */
function digestName(text: string): string {
  return `ri_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
}
