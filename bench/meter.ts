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
 * - WAL bytes: `pg_current_wal_lsn()` before and after. This is the whole server's WAL: on a shared
 *   server it includes what other databases wrote meanwhile (a few KB/s when idle, measured).
 */
import { Client } from 'pg';

let roundTrips = 0;
const uncounted = new WeakSet<object>();

/** Starts counting the queries of every pg Client of this process. */
export function countQueries(): void {
  const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = prototype.query;
  prototype.query = function (this: object, ...args: unknown[]) {
    if (!uncounted.has(this)) roundTrips++;
    return query.apply(this, args);
  };
}

/** What the server did for a figure. */
export interface Cost {
  roundTrips: number;
  commits: number;
  walBytes: number;
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
  ) {}

  /** A meter of `database`, connected through `adminUrl` (another database of the same server). */
  static async open(adminUrl: string, database: string): Promise<Meter> {
    const client = new Client({ connectionString: adminUrl });
    uncounted.add(client);
    await client.connect();
    await client.query('SET stats_fetch_consistency = none');
    return new Meter(client, database);
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
    return {
      roundTrips: roundTripsAfter - before.roundTrips,
      commits: after.commits - before.commits,
      walBytes: Number(bytes),
    };
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
