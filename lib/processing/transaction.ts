import type { EntityManager, QueryRunner } from 'typeorm';
import type { DatabaseAdapter } from './database-adapter';

/**
 * Runs `work` in a transaction of its own on a connection of its own. Commits when `work` resolves (or,
 * with `end: 'rollback'`, a dry run's, always rolls back and returns what `work` returned); on any error
 * rolls back and rethrows it (never swallows it); releases the connection in every case.
 */
export async function inTransaction<T>(
  database: DatabaseAdapter,
  work: (runner: QueryRunner, manager: EntityManager) => Promise<T>,
  end: 'commit' | 'rollback' = 'commit',
): Promise<T> {
  const runner = database.dataSource.createQueryRunner();
  let failure: unknown;
  try {
    await runner.startTransaction();
    const result = await work(runner, runner.manager);
    if (end === 'commit') await runner.commitTransaction();
    else await runner.rollbackTransaction();
    return result;
  } catch (error) {
    failure = error;
    await rollBackAfterFailure(runner);
    throw error;
  } finally {
    // A lost connection is closed, not handed back to the pool for the next statement.
    await database.release(runner, failure);
  }
}

/** Rolls back a transaction whose work failed, if it is still open. */
export async function rollBackAfterFailure(runner: QueryRunner): Promise<void> {
  if (!runner.isTransactionActive) return;
  // A failed rollback (the connection is gone) must not hide the error that caused it.
  await runner.rollbackTransaction().catch(() => undefined);
}
