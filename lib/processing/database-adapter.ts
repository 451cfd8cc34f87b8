import { Logger } from '@nestjs/common';
import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';
import type { DataSource, QueryRunner } from 'typeorm';
import { from as copyFrom } from 'pg-copy-streams';
import { finished } from 'node:stream/promises';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { messages } from '../reliable-imports.messages';
import { toError } from '../utils/error-details.util';
import { isConnectionLoss } from '../utils/transient-error.util';
import { type PgProtocol, sendCancelRequest } from './cancel-request';
import { PreparedStatements } from './prepared-statements';
import type { CopyStatement } from './statements/creation.statements';
import { checkChannel, NOTIFICATION_CHECK_MS, notificationArrives } from './notification-check';
import { cancelBackend, listen, notifyProbe, unlisten } from './statements/session.statements';
import type { Statement } from './statements/statement';

/** How long a cancel request may take to be sent before the connection is closed anyway. */
const CANCEL_REQUEST_MS = 2000;

/**
 * Everything that differs between PostgreSQL through `pg` and PGlite through `typeorm-pglite` is handled
 * here, and nowhere else.
 *
 * - Result shapes: `pg` reports `rowCount` and a command, PGlite neither; so every statement whose effect
 *   matters uses RETURNING and is judged by its rows.
 * - Connections: PGlite is one session shared by every QueryRunner, so two transactions must never be
 *   open at once there: concurrent processing falls back to one item at a time.
 * - Poolers: behind one in transaction mode (PgBouncer), a connection is a server connection only for a
 *   transaction. Nothing the module does outlives one (its locks are transaction locks, it sets nothing
 *   on a session), except LISTEN, which is checked once and then not used (`connectionPooler`), and the
 *   cancel of a given-up statement, which goes by the connection's key rather than its pid; and
 *   prepared statements, which are off there (`preparedStatements`).
 */
export class DatabaseAdapter {
  /** True on PGlite: one session for everything, so one item at a time. */
  readonly singleConnection: boolean;
  private readonly logger = new Logger('ReliableImports');
  /** Whether notifications reach this process: decided once, by the option or by the check. */
  private notifications: Promise<boolean> | null = null;
  private readonly prepared: PreparedStatements;

  constructor(
    readonly dataSource: DataSource,
    private readonly options?: Pick<
      ResolvedReliableImportsOptions,
      'connectionPooler' | 'worker' | 'preparedStatements'
    >,
  ) {
    this.singleConnection = isPGlite(dataSource);
    // PGlite's driver takes text only; its one session parses little anyway.
    this.prepared = new PreparedStatements(
      !this.singleConnection && (options?.preparedStatements ?? true),
      this.logger,
    );
  }

  /**
   * Runs one of the module's statements and returns its rows: inside `transaction` when given, otherwise
   * on a connection of its own, in autocommit.
   */
  run<TRow>(statement: Statement, transaction?: QueryRunner): Promise<TRow[]> {
    const options = { prepare: statement.prepared === true };
    return transaction
      ? this.query<TRow>(transaction, statement.text, statement.values, options)
      : this.queryAutocommit<TRow>(statement.text, statement.values, options);
  }

  /**
   * Runs SQL text on `runner` and returns its rows, whatever the statement and the driver. With `prepare`
   * (for a text that never changes), as a named prepared statement while they are on.
   */
  async query<TRow>(
    runner: QueryRunner,
    sql: string,
    params: readonly unknown[] = [],
    options: { prepare?: boolean } = {},
  ): Promise<TRow[]> {
    if (options.prepare && this.prepared.on) {
      const name = this.prepared.nameOf(sql);
      if (name !== null) return this.queryPrepared<TRow>(runner, sql, params, name);
    }
    const result = (await runner.query(sql, params as unknown[], true)) as { records?: unknown };
    return Array.isArray(result.records) ? (result.records as TRow[]) : [];
  }

  /**
   * Whether the transaction on `runner` failed because a prepared statement was not on its server
   * connection (a pooler that cannot carry them): prepared statements are off now, and its work runs
   * again, not counted a try. Asked of the transaction, not of the error its work threw: a processor may
   * have wrapped that error, or caught it and met the aborted transaction next.
   */
  preparedStatementWasGoneIn(runner: QueryRunner): boolean {
    return this.prepared.wasGoneIn(runner);
  }

  /**
   * Whether an item's commit may start the next item's transaction on its connection (`commitAndStart`):
   * not on PGlite, whose one session would run every other statement inside the transaction left open;
   * nor when the DataSource sets an isolation level, which TypeORM's own start of a transaction applies;
   * nor when a subscriber listens after a commit or before a start: what it runs on the connection then
   * belongs to no row's transaction, and must not run in the next row's (undone if that row fails).
   */
  get chainsTransactions(): boolean {
    const { isolationLevel } = this.dataSource.options as { isolationLevel?: unknown };
    const between = this.dataSource.subscribers.some(
      (subscriber) =>
        'afterTransactionCommit' in subscriber || 'beforeTransactionStart' in subscriber,
    );
    return !this.singleConnection && isolationLevel === undefined && !between;
  }

  /**
   * Commits the runner's transaction and starts another on its connection, in one round trip, with the
   * events TypeORM's `commitTransaction` and `startTransaction` send its subscribers before the commit and
   * after the start (nobody listens between them: see `chainsTransactions`). When the commit fails, the
   * start is not run (a simple query stops at its first error) and the error is the commit's. TypeORM keeps
   * seeing one open transaction, which is true again once this resolves.
   */
  async commitAndStart(runner: QueryRunner): Promise<void> {
    await runner.broadcaster.broadcast('BeforeTransactionCommit');
    await runner.query('COMMIT; START TRANSACTION');
    await runner.broadcaster.broadcast('AfterTransactionStart');
  }

  /**
   * `runner.query` as TypeORM runs it (its logger, its errors), with the statement named: TypeORM hands the
   * driver text only. When the server connection does not hold the statement, prepared statements are
   * turned off; when its result type changed since it was prepared there (a table altered under a
   * `RETURNING *`), its text is renamed, to be prepared afresh. Either way the server refused it before
   * running it: a statement outside a transaction runs again at once; inside one, the transaction is
   * spoilt, and its work must run again (`preparedStatementWasGoneIn`).
   */
  private async queryPrepared<TRow>(
    runner: QueryRunner,
    sql: string,
    params: readonly unknown[],
    name: string,
  ): Promise<TRow[]> {
    if (runner.isReleased) throw new QueryRunnerAlreadyReleasedError();
    const values = params as unknown[];
    const logger = this.dataSource.logger;
    logger.logQuery(sql, values, runner);
    // Values the driver cannot send fail here, before anything is sent, with the error pg would give:
    // pg would close the named statement on its connection and still take it for prepared there (so that
    // the connection's next run of it would meet it gone, 26000, and blame a pooler), and pg before 8.22
    // leaves the connection waiting for ever.
    const sent = this.valuesToSend(params);
    if (sent instanceof Error) {
      logger.logQueryError(sent, sql, values, runner);
      throw new QueryFailedError(sql, values, sent);
    }
    const client = (await runner.connect()) as PreparingClient;
    try {
      const started = Date.now();
      const result = await client.query({ name, text: sql, values: sent });
      const took = Date.now() - started;
      const slow = this.dataSource.options.maxQueryExecutionTime;
      if (slow && took > slow) logger.logQuerySlow(took, sql, values, runner);
      return (result.rows ?? []) as TRow[];
    } catch (error) {
      const driverError = toError(error);
      logger.logQueryError(driverError, sql, values, runner);
      const failed = new QueryFailedError(sql, values, driverError);
      const gone = this.prepared.failedForGood(failed);
      if (gone || this.prepared.resultTypeChanged(failed, sql, name)) {
        // Off now, or under a new name: at once outside a transaction, by the try again inside one.
        if (!runner.isTransactionActive) {
          return this.query<TRow>(runner, sql, params, { prepare: !gone });
        }
        this.prepared.spoil(runner);
      }
      throw failed;
    }
  }

  /**
   * The values as the driver sends them (text, a Buffer or null: what it sends as they are), or the error
   * that mapping one of them threw; the values as given when the driver does not say how it maps them.
   */
  private valuesToSend(params: readonly unknown[]): unknown[] | Error {
    const driver = this.dataSource.driver as unknown as {
      postgres?: { utils?: { prepareValue?: (value: unknown) => unknown } };
    };
    const prepareValue = driver.postgres?.utils?.prepareValue;
    if (typeof prepareValue !== 'function') return params as unknown[];
    try {
      return params.map((value) => prepareValue(value));
    } catch (error) {
      return toError(error);
    }
  }

  /** Whether `copy` can run here: on `pg`, not on PGlite (whose driver takes statements only). */
  get canCopy(): boolean {
    return !this.singleConnection;
  }

  /**
   * Runs a `COPY ... FROM STDIN` inside `transaction`, with its data, through TypeORM's logger and with its
   * `QueryFailedError`, as `query` does; returns how many rows it stored.
   */
  async copy(copy: CopyStatement, transaction: QueryRunner): Promise<number> {
    if (transaction.isReleased) throw new QueryRunnerAlreadyReleasedError();
    const client = (await transaction.connect()) as CopyingClient;
    const logger = this.dataSource.logger;
    logger.logQuery(copy.text, [], transaction);
    const stream = client.query(copyFrom(copy.text));
    try {
      stream.end(copy.data);
      await finished(stream);
      return stream.rowCount;
    } catch (error) {
      const driverError = toError(error);
      logger.logQueryError(driverError, copy.text, [], transaction);
      throw new QueryFailedError(copy.text, [], driverError);
    }
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
    if (!(await this.notificationsArrive())) return null;
    const [client, release] = await this.connectionOfItsOwn();
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
   * Whether a notification reaches a connection that LISTENs: false when `connectionPooler` says that a
   * pooler in transaction mode is in between; otherwise checked once per process (a notification on a
   * channel of the check's own), with one warning when none arrives. A check that could not run (the
   * database is away) is tried again at the next call.
   */
  private notificationsArrive(): Promise<boolean> {
    if (this.notifications) return this.notifications;
    const polling = messages.pollingInstead({
      pollIntervalMs: this.options?.worker.pollIntervalMs ?? 0,
      worker: this.options?.worker.enabled ?? false,
    });
    if (this.options?.connectionPooler === 'transaction') {
      this.logger.log(messages.notificationsOff({ polling }));
      this.notifications = Promise.resolve(false);
      return this.notifications;
    }
    const checked = this.checkNotifications().then((arrive) => {
      if (!arrive) {
        this.logger.warn(
          messages.notificationsDoNotArrive({ waitedMs: NOTIFICATION_CHECK_MS, polling }),
        );
      }
      return arrive;
    });
    this.notifications = checked;
    checked.catch(() => {
      if (this.notifications === checked) this.notifications = null;
    });
    return checked;
  }

  private async checkNotifications(): Promise<boolean> {
    const [client, release] = await this.connectionOfItsOwn();
    const { channel, payload } = checkChannel();
    let failure: Error | undefined;
    const lost = (error: Error): void => {
      failure = error;
    };
    client.on('error', lost);
    try {
      await client.query(listen({ channel }).text);
      const arrives = await notificationArrives(
        // Through the pool: a connection of the pool is what another instance sends on.
        () => this.run(notifyProbe({ channel, payload })),
        (arrived) => {
          const notified = (message: Notification): void => {
            if (message.channel === channel && message.payload === payload) arrived();
          };
          client.on('notification', notified);
          return () => client.removeListener('notification', notified);
        },
      );
      await client.query(unlisten({ channel }).text);
      return arrives;
    } catch (error) {
      failure ??= toError(error);
      throw error;
    } finally {
      client.removeListener('error', lost);
      release(failure);
    }
  }

  private connectionOfItsOwn(): Promise<[ListeningClient, (error?: Error) => void]> {
    const driver = this.dataSource.driver as unknown as {
      obtainMasterConnection(): Promise<[ListeningClient, (error?: Error) => void]>;
    };
    return driver.obtainMasterConnection();
  }

  /**
   * Gives up on a transaction whose work did not settle in time: cancels the statement it may be running,
   * which would otherwise go on holding its locks, and closes its connection instead of returning it to
   * the pool, since the state it is in is unknown. On PGlite the one session is rolled back as usual.
   */
  async abandon(runner: QueryRunner): Promise<void> {
    if (this.singleConnection) return;
    const held = runner as unknown as {
      databaseConnection?: {
        processID?: unknown;
        secretKey?: unknown;
        connectionParameters?: { host?: unknown; port?: unknown };
      };
      releasePostgresConnection?: (error: Error) => Promise<void>;
    };
    const client = held.databaseConnection;
    const pid = client?.processID;
    // By its key, before the connection is closed: a pooler forwards the request only while the client
    // holds its server connection, and the pid it shows is not the server's. The request needs no
    // connection of the pool, which may be all held by items that hang too.
    const pg = (this.dataSource.driver as unknown as { postgres?: Partial<PgProtocol> }).postgres;
    const host = client?.connectionParameters?.host;
    const port = client?.connectionParameters?.port;
    const sent =
      typeof pid === 'number' &&
      typeof client?.secretKey === 'number' &&
      typeof host === 'string' &&
      typeof port === 'number' &&
      typeof pg?.Connection === 'function'
        ? await sendCancelRequest(
            pg as PgProtocol,
            { host, port, processID: pid, secretKey: client.secretKey },
            CANCEL_REQUEST_MS,
          )
        : false;
    await held.releasePostgresConnection?.(new Error(messages.transactionGivenUp()));
    // Without a request sent, by the pid: right on a direct connection, and behind a pooler in transaction
    // mode never tried, since the pid there may be another session's.
    if (!sent && typeof pid === 'number' && this.options?.connectionPooler !== 'transaction') {
      if (this.notifications === null || (await this.notifications.catch(() => true))) {
        await this.run(cancelBackend({ pid })).catch(() => undefined);
      }
    }
  }

  /** Runs SQL text on a connection of its own, in autocommit, and returns its rows; `options` as `query`'s. */
  async queryAutocommit<TRow>(
    sql: string,
    params: readonly unknown[] = [],
    options: { prepare?: boolean } = {},
  ): Promise<TRow[]> {
    const runner = this.dataSource.createQueryRunner();
    let failure: unknown;
    try {
      return await this.query<TRow>(runner, sql, params, options);
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

/** The part of a `pg` client that a named statement needs. */
interface PreparingClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows?: unknown[] }>;
}

/** The part of a `pg` client that a COPY needs. */
interface CopyingClient {
  query<T>(submittable: T): T;
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
