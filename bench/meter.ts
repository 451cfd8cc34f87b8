/**
 * What a figure costs the server, counted rather than guessed:
 *
 * - round trips: every `query` of every pg `Client` of this process (the module's pool goes through
 *   TypeORM to the same `pg`), counted by wrapping `Client.prototype.query`; the meter's own are left out.
 *   pg sends one query per round trip, so a call is a round trip.
 * - commits: the delta of `pg_stat_database.xact_commit` of the bench database, read from another database
 *   so that the reads do not count. A backend reports its counts lazily (up to 10 s late when idle) but
 *   always on exit: before and after a figure, the meter waits until no connection to the bench database
 *   is left (the module's pool closes idle connections after a short `idleTimeoutMillis`).
 * - WAL bytes: `pg_current_wal_lsn()` before and after (`serverWalBytes`). That is the whole server's WAL:
 *   on a shared server it includes whatever other databases wrote meanwhile. So where pg_walinspect is
 *   available (PostgreSQL 15+, a contrib extension, created in the bench database only), `walBytes` is the
 *   WAL of the bench database alone: the records between the two positions that touch its blocks, and the
 *   other records (commits) of the same transactions. Without it, `walBytes` is the server's figure.
 */
import { Client } from 'pg';

let roundTrips = 0;
const uncounted = new WeakSet<object>();

/** Statements being timed: those whose text matches `pattern`. */
interface StatementTimer {
  pattern: RegExp;
  /** Milliseconds from send to answer, one per statement. */
  durations: number[];
}
const timers = new Set<StatementTimer>();

/**
 * Starts counting the queries of every pg Client of this process, and timing those that a
 * `timeStatements` asks for.
 */
export function countQueries(): void {
  const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = prototype.query;
  prototype.query = function (this: object, ...args: unknown[]) {
    if (!uncounted.has(this)) roundTrips++;
    const result = query.apply(this, args);
    if (timers.size > 0 && result instanceof Promise) {
      const [first] = args;
      const text = typeof first === 'string' ? first : (first as { text?: string } | null)?.text;
      const matching = [...timers].filter((timer) => text && timer.pattern.test(text));
      if (matching.length > 0) {
        const start = process.hrtime.bigint();
        const record = () => {
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          for (const timer of matching) timer.durations.push(ms);
        };
        result.then(record, () => undefined);
      }
    }
    return result;
  };
}

/**
 * Times every statement of this process whose text matches `pattern` (once `countQueries` has run) until
 * `stop`: the claims of a run, say. A statement's time is from the call to the answer, as its caller sees it.
 */
export function timeStatements(pattern: RegExp): { durations: number[]; stop: () => void } {
  const timer: StatementTimer = { pattern, durations: [] };
  timers.add(timer);
  return { durations: timer.durations, stop: () => timers.delete(timer) };
}

/** What the server did for a figure. */
export interface Cost {
  roundTrips: number;
  commits: number;
  /** WAL of the bench database (the server's, without pg_walinspect or when it could not tell). */
  walBytes: number;
  /** Whether `walBytes` is the bench database's alone. */
  walOfDatabase: boolean;
  /** WAL of the whole server. */
  serverWalBytes: number;
}

interface Reading {
  roundTrips: number;
  commits: number;
  lsn: string;
}

export class Meter {
  private constructor(
    private readonly client: Client,
    private readonly database: string,
    private readonly databaseUrl: string,
    /** The database's oid, as it appears in WAL block references; null without pg_walinspect. */
    private readonly walOid: string | null,
  ) {}

  /**
   * A meter of `database` (at `databaseUrl`), connected through `adminUrl` (another database of the
   * same server). Creates pg_walinspect in the bench database where it can.
   */
  static async open(adminUrl: string, database: string, databaseUrl: string): Promise<Meter> {
    const client = new Client({ connectionString: adminUrl });
    uncounted.add(client);
    await client.connect();
    await client.query('SET stats_fetch_consistency = none');
    const walOid = await Meter.inspect(databaseUrl)
      .then(
        async (inspecting) => {
          await inspecting.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
          await inspecting.end();
          const { rows } = await client.query<{ oid: string }>(
            'SELECT oid::text FROM pg_database WHERE datname = $1',
            [database],
          );
          return rows[0].oid;
        },
        () => null,
      )
      .catch((error: unknown) => {
        console.log(
          `pg_walinspect: not available (${String(error)}); WAL per row is the whole server's`,
        );
        return null;
      });
    return new Meter(client, database, databaseUrl, walOid);
  }

  /** Whether WAL is counted for the bench database alone. */
  get walOfDatabase(): boolean {
    return this.walOid !== null;
  }

  private static async inspect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    uncounted.add(client);
    await client.connect();
    return client;
  }

  /** Waits until no connection to the bench database is open, so that its counts are all reported. */
  async quiesce(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.client.query<{ open: number }>(
        'SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = $1',
        [this.database],
      );
      if (rows[0].open === 0) return;
      if (Date.now() > until)
        throw new Error(`bench: ${rows[0].open} connections to the bench database stay open`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The counters now (after `quiesce`). */
  async read(): Promise<Reading> {
    const count = roundTrips;
    const { rows } = await this.client.query<{ commits: string; lsn: string }>(
      'SELECT xact_commit AS commits, pg_current_wal_lsn()::text AS lsn FROM pg_stat_database WHERE datname = $1',
      [this.database],
    );
    return { roundTrips: count, commits: Number(rows[0].commits), lsn: rows[0].lsn };
  }

  /** The round trips now, before `quiesce`: what the meter's own polling adds is not counted anyway. */
  roundTripsNow(): number {
    return roundTrips;
  }

  /** What happened between `before` and now; `roundTripsAfter` taken when the work ended. */
  async since(before: Reading, roundTripsAfter: number): Promise<Cost> {
    await this.quiesce();
    const after = await this.read();
    const {
      rows: [{ bytes }],
    } = await this.client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2) AS bytes', [
      after.lsn,
      before.lsn,
    ]);
    const ours = this.walOid === null ? null : await this.walOfBenchDatabase(before, after);
    return {
      roundTrips: roundTripsAfter - before.roundTrips,
      commits: after.commits - before.commits,
      walBytes: ours ?? Number(bytes),
      walOfDatabase: ours !== null,
      serverWalBytes: Number(bytes),
    };
  }

  /**
   * Read after the figure, on a connection of its own that the next `quiesce` waits out. Null when the
   * WAL is gone already: a checkpoint may recycle it while the figure runs (no replication slot holds it,
   * and a bench should not leave one behind on a shared server).
   */
  private async walOfBenchDatabase(before: Reading, after: Reading): Promise<number | null> {
    const client = await Meter.inspect(this.databaseUrl);
    try {
      const blocks = `%/${this.walOid}/%`;
      const {
        rows: [{ bytes }],
      } = await client.query<{ bytes: string }>(
        `WITH records AS (
           SELECT xid::text AS xid, record_length, block_ref FROM pg_get_wal_records_info($1, $2)
         ), ours AS (
           SELECT DISTINCT xid FROM records WHERE xid <> '0' AND block_ref LIKE $3
         )
         SELECT coalesce(sum(record_length), 0) AS bytes FROM records
          WHERE block_ref LIKE $3 OR xid IN (SELECT xid FROM ours)`,
        [before.lsn, after.lsn, blocks],
      );
      return Number(bytes);
    } catch {
      return null;
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
