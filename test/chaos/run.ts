/**
 * `npm run chaos -- [--runs N] [--seed S] [--path P] [--commands M] [--command-set V] [--regressions]
 * [--keep-cluster]`: runs the randomized fault suite outside Jest. A failure prints its seed and path;
 * pass both back to replay that sequence's commands exactly (the timing of real processes still varies).
 * `--command-set` picks an older version's commands, to replay a sequence found with them.
 */
import 'reflect-metadata';
import fc from 'fast-check';
import {
  faultProperty,
  LATEST_COMMAND_SET,
  openSuite,
  runParameters,
  type CommandSet,
} from './fault-suite';
import { regressions } from './regressions';

/** fast-check's report, with the error itself (the list of violations and where). */
function report<T>(result: fc.RunDetails<T>): string {
  const error = result.errorInstance;
  return `${fc.defaultReportMessage(result)}\n${error instanceof Error ? error.message : String(error)}`;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<number> {
  const suite = await openSuite();
  process.stderr.write(
    `fault suite on the private cluster ${suite.cluster.name} (port ${suite.cluster.port}); item timeouts ${suite.itemTimeoutMs ? 'on' : 'not supported yet: hang rows throw instead'}\n`,
  );
  let failures = 0;
  try {
    if (process.argv.includes('--regressions')) {
      for (const regression of regressions) {
        process.stderr.write(
          `regression ${regression.name} (seed ${regression.seed}, path ${regression.path})\n`,
        );
        const result = await fc.check(
          faultProperty(suite, regression.maxCommands, regression.commandSet),
          runParameters({ seed: regression.seed, path: regression.path, runs: 1 }),
        );
        if (result.failed) {
          failures++;
          process.stderr.write(`${report(result)}\n`);
        }
      }
      return failures > 0 ? 1 : 0;
    }
    const seed =
      argument('seed') !== undefined
        ? Number(argument('seed'))
        : Date.now() ^ (Math.random() * 0x100000000);
    const runs = Number(argument('runs') ?? 10);
    const maxCommands = Number(argument('commands') ?? 8);
    const commandSet = Number(argument('command-set') ?? LATEST_COMMAND_SET) as CommandSet;
    process.stderr.write(
      `seed ${seed}, ${runs} run(s), up to ${maxCommands} commands each (command set ${commandSet})\n`,
    );
    const started = Date.now();
    const result = await fc.check(
      faultProperty(suite, maxCommands, commandSet),
      runParameters({ seed, path: argument('path'), runs }),
    );
    process.stderr.write(
      `${result.numRuns} sequence(s) in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
    if (result.failed) {
      process.stderr.write(`${report(result)}\n`);
      process.stderr.write(
        `Replay: npm run chaos -- --seed ${result.seed} --path ${result.counterexamplePath} --commands ${maxCommands} --command-set ${commandSet}\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    if (!process.argv.includes('--keep-cluster') && process.env.CHAOS_KEEP_CLUSTER !== '1')
      suite.cluster.drop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
