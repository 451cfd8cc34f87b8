import type { DataSource } from 'typeorm';
import { adminDatabaseUrl } from './database-url';
import { withClient } from './with-client';

/**
 * The kinds of Node resources a test file may leave running (`process.getActiveResourcesInfo()`): timers
 * (an unref'ed one is not listed, as it cannot keep the process alive), sockets, servers and children.
 */
const GUARDED_RESOURCES = ['Timeout', 'TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap'] as const;

/** How many resources of each guarded kind are alive: taken before a file starts, compared after. */
export type ResourceCounts = Record<(typeof GUARDED_RESOURCES)[number], number>;

/** What a file set up, for the guard to check once the file has closed it. */
export interface LeakGuardTarget {
  /** The file's database: no backend may be connected to it any more. */
  database: string;
  /** The file's DataSources: each must be destroyed. */
  dataSources?: DataSource[];
  /** The counts taken before the file started anything. */
  baseline: ResourceCounts;
  /** How long closed things are given to go away (a pool's sockets close after `end()` resolves). */
  settleMs?: number;
}

/** Counts the live resources of each guarded kind. */
export function countResources(): ResourceCounts {
  const counts = Object.fromEntries(GUARDED_RESOURCES.map((kind) => [kind, 0])) as ResourceCounts;
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind in counts) counts[kind as keyof ResourceCounts]++;
  }
  return counts;
}

/** The backends connected to `database`, as an admin connection to another database sees them. */
async function backendsOf(
  database: string,
): Promise<Array<{ pid: number; application_name: string; state: string; query: string }>> {
  return withClient(adminDatabaseUrl(), async (admin) => {
    const { rows } = await admin.query<{
      pid: number;
      application_name: string;
      state: string;
      query: string;
    }>(
      `SELECT pid, application_name, state, query FROM pg_stat_activity
       WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return rows;
  });
}

/** One pass of every check; `[]` when nothing is left open. */
async function leaksNow(target: LeakGuardTarget): Promise<string[]> {
  const leaks: string[] = [];
  for (const [index, dataSource] of (target.dataSources ?? []).entries()) {
    if (dataSource.isInitialized) {
      leaks.push(`DataSource #${index + 1} is still initialized: its app was not closed.`);
    }
  }
  for (const backend of await backendsOf(target.database)) {
    leaks.push(
      `A connection to ${target.database} is still open: pid ${backend.pid} (${backend.state ?? 'no state'}), ` +
        `last query: ${backend.query.trim().slice(0, 120)}`,
    );
  }
  // Counted after the admin connection above has closed, so that it is not counted itself.
  const counts = countResources();
  for (const kind of GUARDED_RESOURCES) {
    const extra = counts[kind] - target.baseline[kind];
    if (extra > 0) leaks.push(`${extra} more ${kind} alive than before the file started.`);
  }
  return leaks;
}

/**
 * What the file left open: DataSources not destroyed, connections to its database, timers, sockets,
 * servers and child processes beyond those alive before it started. Asked again until `settleMs` has
 * passed, since a closed pool's sockets and backends go away a moment after `end()` resolves.
 */
export async function findLeaks(target: LeakGuardTarget): Promise<string[]> {
  const deadline = Date.now() + (target.settleMs ?? 2000);
  for (;;) {
    const leaks = await leaksNow(target);
    if (leaks.length === 0 || Date.now() >= deadline) return leaks;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Throws, listing them, when the file left something open (see `findLeaks`). */
export async function expectNoLeaks(target: LeakGuardTarget): Promise<void> {
  const leaks = await findLeaks(target);
  if (leaks.length > 0) {
    throw new Error(
      `The test file left these open (close them in the test or its afterAll):\n- ${leaks.join('\n- ')}`,
    );
  }
}
