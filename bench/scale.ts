/**
 * `npm run bench -- --scale`: rows per second with 1, 2 and 4 processes on one batch (issue 16, item 5).
 * Each process is a child of the bench with an app of its own (a pool of its own), running
 * `processBatch` at concurrency 1: the first to start takes the batch, the others join it as helpers, as
 * processes on several machines would. The children start their apps, say they are ready, and are told
 * to go together; the time is from "go" to the last child's exit, and each child reports its peak RSS.
 */
import { NestFactory } from '@nestjs/core';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BatchService, type ProcessBatchOptions } from '../lib';
import { appModule } from './app';

/** The processes of each figure, and the rows of its batch per mode. */
export const SCALE_PROCESSES = [1, 2, 4];

export const SCALE_MODES: Array<{ name: string; options: ProcessBatchOptions; rows: number }> = [
  { name: 'per-row', options: { concurrency: 1 }, rows: 20_000 },
  { name: 'chunked', options: { commitEvery: 100, concurrency: 1 }, rows: 50_000 },
];

/** What one figure measured. */
export interface ScaleSample {
  mode: string;
  processes: number;
  rows: number;
  rowsPerSecond: number;
  /** The largest peak RSS of its processes. */
  peakRssMb: number;
}

/**
 * Runs `processes` children on the batch `batchId` in `mode` and waits for all of them.
 * @param argv - how to start this script again (`process.execArgv` and its file).
 */
export async function processInChildren(
  argv: string[],
  batchId: string,
  mode: (typeof SCALE_MODES)[number],
  processes: number,
): Promise<ScaleSample> {
  const children = Array.from({ length: processes }, () =>
    spawn(
      process.execPath,
      [...argv, '--child-process-batch', batchId, JSON.stringify(mode.options)],
      { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  const lines = children.map((child) =>
    createInterface({ input: child.stdout })[Symbol.asyncIterator](),
  );
  const next = async (i: number): Promise<string> => {
    const line = await lines[i].next();
    if (line.done) throw new Error(`bench: a --child-process-batch process ended early`);
    return line.value;
  };
  let start = 0n;
  let reports: Array<{ peakRssMb: number }>;
  try {
    for (let i = 0; i < processes; i++)
      if ((await next(i)) !== 'ready') throw new Error('bench: a child did not say ready');
    start = process.hrtime.bigint();
    for (const child of children) child.stdin.end('go\n');
    reports = await Promise.all(
      children.map(async (_, i) => JSON.parse(await next(i)) as { peakRssMb: number }),
    );
  } catch (error) {
    // None is left behind holding the batch or the database.
    for (const child of children) child.kill('SIGKILL');
    throw error;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`bench: a child exited ${code}`)),
          );
        }),
    ),
  );
  return {
    mode: mode.name,
    processes,
    rows: mode.rows,
    rowsPerSecond: Math.round(mode.rows / seconds),
    peakRssMb: Math.max(...reports.map((r) => r.peakRssMb)),
  };
}

/**
 * In a child: starts an app on `url`, says `ready`, waits for `go` on stdin, runs the batch with
 * `options` (taking it, or joining the run that has it), then prints its peak RSS.
 */
export async function childProcessBatch(
  url: string,
  batchId: string,
  options: ProcessBatchOptions,
): Promise<void> {
  const app = await NestFactory.createApplicationContext(appModule(4, url), {
    logger: ['error'],
  });
  // Told to go, or left: a bench that ended before "go" closes the pipe, and the child must not linger.
  const go = new Promise<void>((resolve) => {
    const left = () => process.exit(1);
    process.stdin.once('end', left);
    process.stdin.once('data', () => {
      process.stdin.off('end', left);
      resolve();
    });
  });
  console.log('ready');
  await go;
  await app.get(BatchService).processBatch(batchId, options);
  await app.close();
  console.log(JSON.stringify({ peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
  process.stdin.destroy();
}
