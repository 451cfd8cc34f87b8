import { transformFileSync } from '@swc/core';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** How long the app's start and its stop may take on a busy two-core machine. */
const START_WITHIN_MS = 60_000;
const STOP_WITHIN_MS = 15_000;

/** The sample app, compiled, running as a process of its own. */
export interface SampleAppProcess {
  /** `http://127.0.0.1:<port>`: the loopback address its admin guard lets through. */
  url: string;
  /** Everything it printed so far, for the message of a failed test. */
  output(): string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its compiled copy; safe to call twice. */
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Compiles the sample app into a directory of its own under dist/ (never over dist/lib, which other test
 * files' processes may be loading at that moment), with SWC as Jest and the fault suite do: under a
 * second, where `tsc -p tsconfig.sample.json` takes 15 s or more on a busy machine (its type errors are
 * `npm run typecheck`'s business). The sample app reaches the library only by its package name, so the
 * compiled app runs on the package's own dist/lib of `npm run build`, as a user's app would.
 */
function compileSampleApp(): string {
  if (!existsSync(join(ROOT, 'dist', 'lib', 'index.js'))) {
    throw new Error(
      'dist/lib is missing: run `npm run build` before the browser tests (npm test does).',
    );
  }
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const outDir = mkdtempSync(join(ROOT, 'dist', 'browser-tests-'));
  try {
    for (const file of sources(join(ROOT, 'sample-app'))) {
      const { code } = transformFileSync(file, {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
        sourceMaps: false,
      });
      const out = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, code);
    }
  } catch (error) {
    rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
  return outDir;
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/**
 * Compiles and starts the sample app on `databaseUrl` and a free port; resolves once it printed its
 * "Sample app on http://localhost:<port>" line. A start that fails stops what it started and throws
 * with the app's output.
 */
export async function startSampleApp(databaseUrl: string): Promise<SampleAppProcess> {
  const outDir = compileSampleApp();
  const port = await freePort();
  const child = spawn(process.execPath, [join(outDir, 'sample-app', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // If Jest's worker goes away without running the file's afterAll, the app must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      try {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_WITHIN_MS);
          await exitOf(child);
          clearTimeout(timer);
        }
      } finally {
        process.removeListener('exit', killOnExit);
        rmSync(outDir, { recursive: true, force: true });
      }
    })());

  const ready = `Sample app on http://localhost:${port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`The sample app did not start within ${START_WITHIN_MS} ms`)),
        START_WITHIN_MS,
      );
      const settle = (outcome?: Error) => {
        clearTimeout(timer);
        if (outcome) reject(outcome);
        else resolve();
      };
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(ready)) settle();
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code, signal) =>
        settle(new Error(`The sample app ended with ${code ?? signal} before it was ready`)),
      );
    });
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}. Its output:\n${output}`);
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop };
}
