import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TracedRun } from './processing-child';

/** A running processing child (see processing-child.ts). */
export interface ProcessingChild {
  process: ChildProcess;
  /** Resolves with the child's exit code (null when killed) and everything it printed. */
  exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>;
}

/** The table the processing child writes each row to: no unique key, so that a row applied twice shows. */
export const CREATE_APPLIED_TABLE =
  'CREATE TABLE applied (item_id uuid NOT NULL, n integer NOT NULL, pid integer NOT NULL)';

/** Starts a Node process that processes `batchId`, with the real module, on its own connections. */
export function startProcessingChild(env: {
  databaseUrl: string;
  batchId: string;
  concurrency?: number;
  leaseMs?: number;
  itemPauseMs?: number;
  /** Registers a tracing SDK in the child, and prints its run spans (`resultOf(...).runs`). */
  traceRuns?: boolean;
}): ProcessingChild {
  const root = join(__dirname, '..', '..');
  const child = spawn(
    process.execPath,
    ['-r', '@swc-node/register', join(root, 'test', 'support', 'processing-child.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        CHILD_DATABASE_URL: env.databaseUrl,
        BATCH_ID: env.batchId,
        CONCURRENCY: String(env.concurrency ?? 1),
        LEASE_MS: String(env.leaseMs ?? 30_000),
        ITEM_PAUSE_MS: String(env.itemPauseMs ?? 0),
        TRACE_RUNS: env.traceRuns === true ? '1' : '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { process: child, exited };
}

/** The JSON line a child prints when it finished its batch. */
export function resultOf(stdout: string): {
  processed: number;
  status: string;
  runs?: TracedRun[];
} {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as { processed: number; status: string; runs?: TracedRun[] };
}
