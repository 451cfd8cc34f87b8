import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ChildConfig } from './chaos-child';

/** A running suite process (chaos-child.ts). */
export interface ChaosChild {
  id: number;
  label: string;
  process: ChildProcess;
  stopped: boolean;
  exited: boolean;
  /** Resolves once the process has exited, with its last JSON line (if any). */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; last: unknown }>;
}

let nextId = 1;

/** Starts the compiled child (see compile.ts) at `script`. */
export function startChild(
  script: string,
  label: string,
  config: ChildConfig,
  itemPauseMs: number,
): ChaosChild {
  const root = join(__dirname, '..', '..');
  const child = spawn(process.execPath, [script], {
    cwd: root,
    env: {
      ...process.env,
      CHAOS_CHILD_CONFIG: JSON.stringify(config),
      CHAOS_ITEM_PAUSE_MS: String(itemPauseMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', () => undefined);
  const handle: ChaosChild = {
    id: nextId++,
    label,
    process: child,
    stopped: false,
    exited: false,
    exit: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        handle.exited = true;
        const lines = stdout.trim().split('\n').filter(Boolean);
        let last: unknown = null;
        try {
          last = lines.length > 0 ? JSON.parse(lines[lines.length - 1]) : null;
        } catch {
          last = lines[lines.length - 1];
        }
        resolve({ code, signal, last });
      }),
    ),
  };
  return handle;
}

/** Sends a signal to a child that is still running (by its pid only). */
export function signalChild(child: ChaosChild, signal: NodeJS.Signals): boolean {
  if (child.exited || child.process.pid === undefined) return false;
  try {
    process.kill(child.process.pid, signal);
    return true;
  } catch {
    return false;
  }
}
