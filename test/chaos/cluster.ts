import { execFileSync } from 'node:child_process';
import { DataSource } from 'typeorm';
import { reliableImportsMigrations } from '../../migrations';
import { sleep } from '../support/timing';
import { withClient, type WithClientOptions } from '../support/with-client';

/**
 * The suite's own PostgreSQL cluster (pg_createcluster), on a port of its own, so that it can be stopped
 * and killed mid-run without touching the shared server. Needs the Debian/Ubuntu postgresql-common tools
 * and root (or the postgres user).
 */
export interface PrivateCluster {
  version: string;
  name: string;
  port: number;
  /** A database on this cluster. */
  url(database: string): string;
  /** `pg_ctlcluster stop -m immediate` (no shutdown checkpoint, connections cut). */
  stopImmediate(): void;
  /** SIGKILL of the postmaster, as an OOM killer would do it. */
  killPostmaster(): void;
  /** Starts the cluster if it is down; waits until it answers. */
  ensureRunning(): Promise<void>;
  /** A fresh migrated database, copied from the suite's template. */
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Stops and removes the cluster. */
  drop(): void;
}

const TEMPLATE = 'chaos_template';

const run = (command: string, args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function installedVersion(): string {
  const out = run('pg_lsclusters', ['-h']);
  const first = out.trim().split('\n')[0]?.split(/\s+/)[0];
  return process.env.CHAOS_PG_VERSION ?? first ?? '15';
}

function clusterStatus(version: string, name: string): 'online' | 'down' | 'absent' {
  const line = run('pg_lsclusters', ['-h'])
    .split('\n')
    .map((row) => row.trim().split(/\s+/))
    .find((row) => row[0] === version && row[1] === name);
  if (!line) return 'absent';
  return line[3]?.startsWith('online') ? 'online' : 'down';
}

/** How the suite connects to its cluster, which it stops and kills under open clients. */
export const CLUSTER_CLIENT: WithClientOptions = { connectTimeoutMs: 5000, serverMayGoAway: true };

/** Creates the cluster (or reuses one left by an earlier run), starts it and migrates the template. */
export async function openPrivateCluster(
  options: { name?: string; port?: number } = {},
): Promise<PrivateCluster> {
  const version = installedVersion();
  const name = options.name ?? process.env.CHAOS_PG_CLUSTER ?? 'ri_chaos';
  const port = options.port ?? Number(process.env.CHAOS_PG_PORT ?? 5499);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;

  if (clusterStatus(version, name) === 'absent') {
    run('pg_createcluster', [
      version,
      name,
      '--port',
      String(port),
      // Crashes here are process crashes, not power cuts: the OS keeps what was written.
      '-o',
      'fsync=off',
      '-o',
      'max_connections=300',
      '--',
      '--auth=trust',
    ]);
  }

  const ensureRunning = async (): Promise<void> => {
    // A postmaster killed with SIGKILL leaves its lock files behind until its backends are gone.
    for (let attempt = 0; clusterStatus(version, name) !== 'online'; attempt++) {
      try {
        run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']);
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(300);
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await withClient(url('postgres'), (client) => client.query('SELECT 1'), CLUSTER_CLIENT);
        return;
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(100);
      }
    }
  };

  await ensureRunning();
  await withClient(
    url('postgres'),
    async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${TEMPLATE}`);
    },
    CLUSTER_CLIENT,
  );
  const dataSource = new DataSource({
    type: 'postgres',
    url: url(TEMPLATE),
    migrations: reliableImportsMigrations,
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
    await dataSource.query(
      // No unique key on purpose: a source row applied twice shows as two rows.
      `CREATE TABLE chaos_applied (
         root_id uuid NOT NULL, item_id uuid NOT NULL, batch_id uuid NOT NULL, n integer NOT NULL,
         fail text, mark text, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    );
  } finally {
    await dataSource.destroy();
  }

  const postmasterPid = (): number | null => {
    try {
      const dataDir = run('pg_conftool', [version, name, 'show', 'data_directory'])
        .split('=')[1]
        ?.trim()
        .replace(/^'|'$/g, '');
      const pid = run('head', ['-1', `${dataDir}/postmaster.pid`]).trim();
      return Number(pid) || null;
    } catch {
      return null;
    }
  };

  return {
    version,
    name,
    port,
    url,
    stopImmediate: () => {
      if (clusterStatus(version, name) === 'online')
        run('pg_ctlcluster', [
          '--skip-systemctl-redirect',
          version,
          name,
          'stop',
          '-m',
          'immediate',
        ]);
    },
    killPostmaster: () => {
      const pid = postmasterPid();
      if (!pid) return;
      // The whole server, as an OOM kill of the machine's database would: the postmaster and its backends.
      let backends: number[] = [];
      try {
        backends = run('ps', ['-o', 'pid=', '--ppid', String(pid)])
          .split('\n')
          .map((line) => Number(line.trim()))
          .filter((value) => value > 0);
      } catch {
        // no children listed
      }
      for (const target of [pid, ...backends]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    ensureRunning,
    createDatabase: async (database) => {
      await ensureRunning();
      await withClient(
        url('postgres'),
        async (client) => {
          await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
          await client.query(`CREATE DATABASE "${database}" TEMPLATE ${TEMPLATE}`);
        },
        CLUSTER_CLIENT,
      );
      return url(database);
    },
    dropDatabase: async (database) => {
      await ensureRunning();
      await withClient(
        url('postgres'),
        (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
        CLUSTER_CLIENT,
      );
    },
    drop: () => {
      if (clusterStatus(version, name) !== 'absent')
        run('pg_dropcluster', [version, name, '--stop']);
    },
  };
}
