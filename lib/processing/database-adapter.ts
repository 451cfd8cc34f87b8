import type { DataSource, QueryRunner } from 'typeorm';
import { messages } from '../reliable-imports.messages';
import { toError } from '../utils/error-details.util';
import { isConnectionLoss } from '../utils/transient-error.util';
import { cancelBackend, listen, unlisten } from './statements/session.statements';
import type { Statement } from './statements/statement';

/**
 * Everything that differs between PostgreSQL through `pg` and PGlite through `typeorm-pglite` is handled
 * here, and nowhere else.
 *
 * - Result shapes: `pg` reports `rowCount` and a command, PGlite neither; so every statement whose effect
 *   matters uses RETURNING and is judged by its rows.
 * - Connections: PGlite is one session shared by every QueryRunner, so two transactions must never be
 *   open at once there: concurrent processing falls back to one item at a time.
 */
export class DatabaseAdapter {
  /** True on PGlite: one session for everything, so one item at a time. */
  readonly singleConnection: boolean;

  constructor(readonly dataSource: DataSource) {
    this.singleConnection = isPGlite(dataSource);
  }

  /**
   * Runs one of the module's statements and returns its rows: inside `transaction` when given, otherwise
   * on a connection of its own, in autocommit.
   */
  run<TRow>(statement: Statement, transaction?: QueryRunner): Promise<TRow[]> {
    return transaction
      ? this.query<TRow>(transaction, statement.text, statement.values)
      : this.queryAutocommit<TRow>(statement.text, statement.values);
  }

  /** Runs SQL text on `runner` and returns its rows, whatever the statement and the driver. */
  async query<TRow>(
    runner: QueryRunner,
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<TRow[]> {
    const result = (await runner.query(sql, params as unknown[], true)) as { records?: unknown };
    return Array.isArray(result.records) ? (result.records as TRow[]) : [];
  }

  /**
   * LISTENs on `channel` on a connection of its own, kept out of the pool, and calls `onNotify` with the
   * payload of each notification. Returns a function that stops listening, or null where LISTEN is not available
   * (PGlite through TypeORM): the caller then relies on polling.
   */
  async listen(
    channel: string,
    onNotify: (payload: string) => void,
    onLost: (error: Error) => void,
  ): Promise<(() => Promise<void>) | null> {
    if (this.singleConnection) return null;
    const driver = this.dataSource.driver as unknown as {
      obtainMasterConnection(): Promise<[ListeningClient, (error?: Error) => void]>;
    };
    const [client, release] = await driver.obtainMasterConnection();
    const notified = (message: Notification): void => {
      if (message.channel === channel) onNotify(message.payload ?? '');
    };
    const lost = (error: Error): void => {
      client.removeListener('notification', notified);
      client.removeListener('error', lost);
      release(error);
      onLost(error);
    };
    client.on('notification', notified);
    client.on('error', lost);
    try {
      await client.query(listen({ channel }).text);
    } catch (error) {
      lost(error as Error);
      throw error;
    }
    return async () => {
      client.removeListener('notification', notified);
      client.removeListener('error', lost);
      await client.query(unlisten({ channel }).text).catch(() => undefined);
      release();
    };
  }

  /**
   * Gives up on a transaction whose work did not settle in time: cancels the statement it may be running,
   * which would otherwise go on holding its locks, and closes its connection instead of returning it to
   * the pool, since the state it is in is unknown. On PGlite the one session is rolled back as usual.
   */
  async abandon(runner: QueryRunner): Promise<void> {
    if (this.singleConnection) return;
    const held = runner as unknown as {
      databaseConnection?: { processID?: unknown };
      releasePostgresConnection?: (error: Error) => Promise<void>;
    };
    const pid = held.databaseConnection?.processID;
    // Closed first: its pool slot is what the cancel may need, when every other connection of the pool is
    // held by an item that hangs too. (Its server process goes on with the statement until cancelled.)
    await held.releasePostgresConnection?.(new Error(messages.transactionGivenUp()));
    if (typeof pid === 'number') {
      await this.run(cancelBackend({ pid })).catch(() => undefined);
    }
  }

  /** Runs SQL text on a connection of its own, in autocommit, and returns its rows. */
  async queryAutocommit<TRow>(sql: string, params: readonly unknown[] = []): Promise<TRow[]> {
    const runner = this.dataSource.createQueryRunner();
    let failure: unknown;
    try {
      return await this.query<TRow>(runner, sql, params);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      await this.release(runner, failure);
    }
  }

  /**
   * Returns a runner's connection to the pool; or closes it when `failure` says the connection was lost.
   * A terminated backend fails its statement before its socket closes, so the pool would otherwise hand
   * the dead connection to the very next statement: the clean-up that follows the failure.
   */
  async release(runner: QueryRunner, failure?: unknown): Promise<void> {
    const held = runner as unknown as {
      releasePostgresConnection?: (error: Error) => Promise<void>;
    };
    if (
      failure !== undefined &&
      !this.singleConnection &&
      held.releasePostgresConnection &&
      isConnectionLoss(toError(failure))
    ) {
      await held.releasePostgresConnection(toError(failure));
      return;
    }
    await runner.release();
  }
}

/** A notification as `pg` hands it over. */
interface Notification {
  channel: string;
  payload?: string;
}

/** The part of a `pg` client that listening needs. */
interface ListeningClient {
  query(sql: string): Promise<unknown>;
  on(event: 'notification', listener: (message: Notification) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
}

function isPGlite(dataSource: DataSource): boolean {
  const options = dataSource.options as { type?: string; driver?: { Pool?: { name?: string } } };
  return options.type === 'postgres' && options.driver?.Pool?.name === 'PGlitePool';
}
