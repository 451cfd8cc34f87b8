import type { QueryRunner } from 'typeorm';

/** Errors thrown by the statements of an item's own transaction (`ctx.query`, `ctx.manager`). */
const ownConnectionErrors = new WeakSet<object>();

/** The runners whose statements' errors are marked already. */
const marked = new WeakSet<QueryRunner>();

/** Marks an error as thrown by a statement of an item's own transaction. */
export function markOwnConnectionError(error: unknown): void {
  if (typeof error === 'object' && error !== null) ownConnectionErrors.add(error);
}

/**
 * Whether a processor's error came from its item's own connection: a lost connection there is an outage
 * of the module's database, not the item's fault.
 */
export function isOwnConnectionError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && ownConnectionErrors.has(error);
}

/**
 * Marks what the transaction's statements throw, to tell a lost connection of its own from others'
 * (statements it runs prepared are marked by `ItemContextImpl.query`, since they do not go through it).
 */
export function markErrorsOf(transaction: QueryRunner): void {
  // Once per connection: a lane's chained item transactions share theirs.
  if (marked.has(transaction)) return;
  marked.add(transaction);
  const query = transaction.query.bind(transaction) as (...args: unknown[]) => Promise<unknown>;
  transaction.query = (async (...args: unknown[]) => {
    try {
      return await query(...args);
    } catch (error) {
      markOwnConnectionError(error);
      throw error;
    }
  }) as QueryRunner['query'];
}
