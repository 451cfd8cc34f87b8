import type { EntityManager, QueryRunner } from 'typeorm';
import type { DatabaseAdapter } from './database-adapter';
import { rollBackAfterFailure } from './transaction';

/** An item's place in its lane's chain: the chain, and whether the lane holds a next item. */
export interface ChainPlace {
  chain: TransactionChain;
  next: boolean;
}

/**
 * The item transactions of one lane, one after another on one connection: when the lane holds a next item,
 * an item's commit starts the next one's transaction in the same round trip (`COMMIT; START TRANSACTION`,
 * a simple query without values), so that a row costs the round trips of a hand-written loop (start,
 * the processor's statements, the outcome, commit) and not one more. Each row still commits on its own,
 * before the next row's first statement; a row whose transaction fails rolls back alone, and the next row
 * starts afresh. Not for PGlite, whose one session would run other statements inside the open transaction,
 * nor for a dry run, which rolls back: `inTransaction` is theirs.
 */
export class TransactionChain {
  /** The connection whose transaction the last commit started, for the next item. */
  private started: QueryRunner | null = null;

  constructor(private readonly database: DatabaseAdapter) {}

  /**
   * Runs `work` in a transaction of its own, as `inTransaction` does: commits when it resolves, rolls back
   * and rethrows when it throws. With `next`, the commit starts the next item's transaction.
   */
  async run<T>(
    work: (runner: QueryRunner, manager: EntityManager) => Promise<T>,
    next: boolean,
  ): Promise<T> {
    const waiting = this.started;
    this.started = null;
    // A connection lost while its transaction waited (its backend gone) is released already, and holds
    // no transaction: the item starts afresh on another.
    const runner =
      waiting && !waiting.isReleased ? waiting : this.database.dataSource.createQueryRunner();
    let failure: unknown;
    let kept = false;
    try {
      if (!runner.isTransactionActive) await runner.startTransaction();
      const result = await work(runner, runner.manager);
      // A connection that met a prepared statement gone is not kept: its next try must not be read as one
      // that met it too.
      if (next && !this.database.preparedStatementWasGoneIn(runner)) {
        await this.database.commitAndStart(runner);
        this.started = runner;
        kept = true;
      } else {
        await runner.commitTransaction();
      }
      return result;
    } catch (error) {
      failure = error;
      await rollBackAfterFailure(runner);
      throw error;
    } finally {
      if (!kept) await this.database.release(runner, failure);
    }
  }

  /** Ends the chain: a transaction started for an item that did not come did nothing, and rolls back. */
  async end(): Promise<void> {
    const runner = this.started;
    this.started = null;
    if (!runner) return;
    let failure: unknown;
    try {
      await runner.rollbackTransaction();
    } catch (error) {
      failure = error;
    } finally {
      await this.database.release(runner, failure);
    }
  }
}
