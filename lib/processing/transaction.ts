import type { EntityManager, QueryRunner } from 'typeorm';
import type { DatabaseAdapter } from './database-adapter';

/**
 * Runs `work` in a transaction of its own on a connection of its own. Commits when `work` resolves; on
 * any error rolls back and rethrows it (never swallows it); releases the connection in every case.
 */
export async function inTransaction<T>(
  database: DatabaseAdapter,
  work: (runner: QueryRunner, manager: EntityManager) => Promise<T>,
): Promise<T> {
  const runner = database.dataSource.createQueryRunner();
  let failure: unknown;
  try {
    await runner.startTransaction();
    const result = await work(runner, runner.manager);
    await runner.commitTransaction();
    return result;
  } catch (error) {
    failure = error;
    if (runner.isTransactionActive) {
      // A failed rollback (the connection is gone) must not hide the error that caused it.
      await runner.rollbackTransaction().catch(() => undefined);
    }
    throw error;
  } finally {
    // A lost connection is closed, not handed back to the pool for the next statement.
    await database.release(runner, failure);
  }
}

/**
 * Runs `work` in a transaction of its own that is always rolled back (a dry run), and returns what it
 * returned; on any error rethrows it. Releases the connection in every case.
 */
export async function inRolledBackTransaction<T>(
  database: DatabaseAdapter,
  work: (runner: QueryRunner, manager: EntityManager) => Promise<T>,
): Promise<T> {
  const runner = database.dataSource.createQueryRunner();
  let failure: unknown;
  try {
    await runner.startTransaction();
    return await work(runner, runner.manager);
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    if (runner.isTransactionActive) {
      // A rollback that fails (the connection is gone) closes the connection rather than pooling it.
      await runner.rollbackTransaction().catch((error: unknown) => (failure ??= error));
    }
    await database.release(runner, failure);
  }
}
