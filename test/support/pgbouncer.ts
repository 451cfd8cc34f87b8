import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminDatabaseUrl } from './database-url';
import { withClient } from './with-client';

/** A PgBouncer of a test file, in transaction mode, in front of the test server. */
export interface RunningPgBouncer {
  /** `url` with its host and port replaced by the pooler's: the same database and user, pooled. */
  urlOf(url: string): string;
  /** What it logged so far. */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/** Debian's binary (in /usr/sbin, which a user's PATH may lack), else the PATH's. */
function pgbouncerBinary(): string {
  if (existsSync('/usr/sbin/pgbouncer')) return '/usr/sbin/pgbouncer';
  if (spawnSync('pgbouncer', ['--version']).status === 0) return 'pgbouncer';
  throw new Error(
    'PgBouncer is not installed: apt-get install -y pgbouncer (.ci/run installs it when it is missing).',
  );
}

/** A TCP port nobody listens on at the time of asking. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * PgBouncer refuses to run as root: as root it is started with `-u` and the server's own user (who must
 * read its files), otherwise as the current user.
 */
function runAsArguments(): string[] {
  if (process.getuid?.() !== 0) return [];
  const user = spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody';
  return ['-u', user];
}

/**
 * Starts a PgBouncer (`pool_mode = transaction`) on a free port of 127.0.0.1, toward the test server, with
 * the server's user trusted; resolves once it answers a query. Call `stop()` in the file's clean-up.
 */
export async function startPgBouncer(
  options: { poolSize?: number } = {},
): Promise<RunningPgBouncer> {
  const binary = pgbouncerBinary();
  const server = new URL(adminDatabaseUrl());
  const user = decodeURIComponent(server.username || 'root');
  const dir = mkdtempSync(join(tmpdir(), 'ri-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const config = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432} user=${user}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No Unix socket: it would need a directory the dropped user can write to, and nothing uses it.
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    'max_client_conn = 500',
    `default_pool_size = ${options.poolSize ?? 20}`,
    // pg sends extra_float_digits; PgBouncer refuses startup parameters it does not know otherwise.
    'ignore_startup_parameters = extra_float_digits,options',
    'server_check_delay = 0',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'pgbouncer.ini'), config, { mode: 0o644 });
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`, { mode: 0o644 });

  const child: ChildProcess = spawn(binary, [...runAsArguments(), 'pgbouncer.ini'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (running) {
      // SIGTERM: at once, closing its server connections (SIGINT would wait for its clients).
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const urlOf = (url: string): string => {
    const pooled = new URL(url);
    pooled.hostname = '127.0.0.1';
    pooled.port = String(port);
    return pooled.toString();
  };

  // Ready when a query goes through it (it may still be binding its port, or have failed to start).
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await withClient(urlOf(adminDatabaseUrl()), (client) => client.query('SELECT 1'), {
        connectTimeoutMs: 1000,
      });
      break;
    } catch (error) {
      if (!running || Date.now() > deadline) {
        await stop();
        throw new Error(`PgBouncer did not start: ${(error as Error).message}\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { urlOf, log: () => output, stop };
}
