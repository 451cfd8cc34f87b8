import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** The built binary, as `npm run build` leaves it. */
export const BUILT_CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** How one run of the built binary ended. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Resolved here: `-r` would look for the package from `cwd`, which may be a temporary folder.
const SWC_REGISTER = require.resolve('@swc-node/register');

/** Where and how the built binary runs. */
export interface CliOptions {
  /** Added to (or, when undefined, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** @default the repository's root */
  cwd?: string;
  /**
   * Whether the binary may load TypeScript user modules (`--module x.ts#Name`), through @swc-node/register
   * with the fixtures' tsconfig; off, it runs as a user's installed copy does.
   * @default true
   */
  typescript?: boolean;
}

function command(args: string[], options: CliOptions): [string[], SpawnOptions] {
  const typescript = options.typescript ?? true;
  return [
    typescript ? ['-r', SWC_REGISTER, BUILT_CLI, ...args] : [BUILT_CLI, ...args],
    {
      cwd: options.cwd ?? ROOT,
      env: {
        ...process.env,
        ...(typescript
          ? { SWC_NODE_PROJECT: join(ROOT, 'test', 'fixtures', 'cli', 'swc.tsconfig.json') }
          : {}),
        ...options.env,
      },
    },
  ];
}

/** Runs the built binary to its end. */
export function runCli(args: string[], options: CliOptions & { timeoutMs?: number } = {}): CliRun {
  const [argv, spawnOptions] = command(args, options);
  const result = spawnSync(process.execPath, argv, {
    ...spawnOptions,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the built binary without waiting: `onStderr` sees all it printed so far, at each chunk. */
export function startCli(
  args: string[],
  options: CliOptions,
  onStderr: (text: string, signal: (name: NodeJS.Signals) => void) => void,
): Promise<CliRun> {
  const [argv, spawnOptions] = command(args, options);
  const child = spawn(process.execPath, argv, { ...spawnOptions, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onStderr(stderr, (name) => child.kill(name));
  });
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}
