import { ITEM_STATUS } from '../../lib/statuses';
import { withClient } from './with-client';

/** A fault armed in a test database (see `loseConnectionOn`). */
export interface DatabaseFault {
  /** How many statements matched so far, the one that lost its connection included. */
  matched(): Promise<number>;
  /** Removes the fault: later statements run as usual. */
  disarm(): Promise<void>;
}

/** Which statements a fault counts. */
export interface FaultTarget {
  table: string;
  event: 'INSERT' | 'UPDATE' | 'DELETE';
  /**
   * A SQL condition on the statement's rows that makes it count: they are the tables `new_rows` (INSERT,
   * UPDATE) and `old_rows` (UPDATE, DELETE).
   */
  when: string;
}

/** A claim: an UPDATE that puts items under a new holder's lease. */
export const CLAIMS_ITEMS: FaultTarget = {
  table: 'import_batch_items',
  event: 'UPDATE',
  when: `EXISTS (
    SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status = '${ITEM_STATUS.processing}' AND n.locked_by IS DISTINCT FROM o.locked_by)`,
};

/** An outcome: an UPDATE that records items completed (a row's, or a chunk's rows at once). */
export const COMPLETES_ITEMS: FaultTarget = {
  table: 'import_batch_items',
  event: 'UPDATE',
  when: `EXISTS (
    SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status = '${ITEM_STATUS.completed}' AND o.status = '${ITEM_STATUS.processing}')`,
};

/** A write of batch-level log entries (no item) of a batch that has a failed item. */
export const BATCH_LOG_AFTER_FAILED_ITEM: FaultTarget = {
  table: 'import_logs',
  event: 'INSERT',
  when: `EXISTS (
    SELECT 1 FROM new_rows l
    WHERE l.item_id IS NULL AND EXISTS (
      SELECT 1 FROM import_batch_items i
      WHERE i.batch_id = l.batch_id AND i.status = '${ITEM_STATUS.failed}'))`,
};

/**
 * How the matching statement fails. `terminate`: its backend is terminated, so the client sees what it
 * sees when the server goes away (pg rejects the statement with SQLSTATE 57P01, "terminating connection
 * due to administrator command", then the socket closes). `error`: the statement fails with that same
 * SQLSTATE and message, and the connection lives on: the statement's view of a lost connection, without
 * the dead client that pg-pool takes back for a moment after a `terminate` (the next statement of the
 * same code may get it, and fail with "Connection terminated unexpectedly").
 */
export type FaultKind = 'terminate' | 'error';

/** What pg reports for a statement whose backend was terminated: SQLSTATE 57P01 and this message. */
export const TERMINATED_MESSAGE = 'terminating connection due to administrator command';

const FAILURES: Record<FaultKind, string> = {
  terminate: `
            PERFORM pg_terminate_backend(pg_backend_pid());
            -- The termination takes effect at the next interrupt check: here, before the commit.
            PERFORM pg_sleep(5);`,
  error: `
            RAISE EXCEPTION USING ERRCODE = '57P01', MESSAGE = '${TERMINATED_MESSAGE}';`,
};

let faults = 0;

/**
 * Makes the `nth` statement matching `target` lose its connection, in PostgreSQL itself: a trigger fails
 * it as `kind` says, and its transaction is rolled back. Statements are counted across every connection
 * to the database at `url`.
 */
export async function loseConnectionOn(
  url: string,
  target: FaultTarget,
  nth: number,
  kind: FaultKind,
): Promise<DatabaseFault> {
  const name = `ri_fault_${process.pid}_${++faults}`;
  const transitions = [
    target.event !== 'DELETE' ? 'NEW TABLE AS new_rows' : '',
    target.event !== 'INSERT' ? 'OLD TABLE AS old_rows' : '',
  ].join(' ');
  await withClient(url, (client) =>
    client.query(`
      CREATE SEQUENCE "${name}";
      CREATE FUNCTION "${name}"() RETURNS trigger LANGUAGE plpgsql AS $fault$
      BEGIN
${failNth(name, target.when, nth, kind)}
        RETURN NULL;
      END
      $fault$;
      CREATE TRIGGER "${name}" AFTER ${target.event} ON "${target.table}"
        REFERENCING ${transitions} FOR EACH STATEMENT EXECUTE FUNCTION "${name}"();`),
  );
  return {
    matched: () => countMatched(url, name),
    disarm: () =>
      withClient(url, async (client) => {
        await client.query(`
          DROP TRIGGER IF EXISTS "${name}" ON "${target.table}";
          DROP FUNCTION IF EXISTS "${name}"();
          DROP SEQUENCE IF EXISTS "${name}";`);
      }),
  };
}

/** A read that counts: a row of `view` that a SELECT reads, when `when` (a condition on `read_row`) holds. */
export interface ReadFaultTarget {
  view: string;
  when: string;
}

/**
 * Makes the `nth` read of a row of a view matching `target` lose its connection, in PostgreSQL itself: the
 * view is put behind one that calls a function on each row it reads (a trigger sees no SELECT). `disarm`
 * puts the view back.
 */
export async function loseConnectionOnRead(
  url: string,
  target: ReadFaultTarget,
  nth: number,
  kind: FaultKind,
): Promise<DatabaseFault> {
  const name = `ri_fault_${process.pid}_${++faults}`;
  const hidden = `${name}_view`;
  await withClient(url, (client) =>
    client.query(`
      CREATE SEQUENCE "${name}";
      ALTER VIEW "${target.view}" RENAME TO "${hidden}";
      CREATE FUNCTION "${name}"(read_row "${hidden}") RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fault$
      BEGIN
${failNth(name, target.when, nth, kind)}
        RETURN true;
      END
      $fault$;
      CREATE VIEW "${target.view}" AS SELECT v.* FROM "${hidden}" v WHERE "${name}"(v);`),
  );
  return {
    matched: () => countMatched(url, name),
    disarm: () =>
      withClient(url, async (client) => {
        await client.query(`
          DROP VIEW "${target.view}";
          DROP FUNCTION "${name}"("${hidden}");
          ALTER VIEW "${hidden}" RENAME TO "${target.view}";
          DROP SEQUENCE "${name}";`);
      }),
  };
}

/** The body of a fault function: the `nth` time `when` holds, fail as `kind` says. */
function failNth(name: string, when: string, nth: number, kind: FaultKind): string {
  return `
        IF ${when} THEN
          IF nextval('"${name}"') = ${Number(nth)} THEN${FAILURES[kind]}
          END IF;
        END IF;`;
}

/** How many times the fault's condition held: its sequence's count. */
function countMatched(url: string, name: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ count: string }>(
      `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS count FROM "${name}"`,
    );
    return Number(rows[0].count);
  });
}
