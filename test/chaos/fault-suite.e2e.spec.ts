import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import fc from 'fast-check';
import { faultProperty, openSuite, runParameters, type SuiteContext } from './fault-suite';
import { regressions } from './regressions';

/**
 * The randomized fault suite under Jest: the named regression sequences, then CHAOS_RUNS random ones
 * (seed CHAOS_SEED, or a new one each run, printed on failure). `npm run chaos` runs more.
 */
/**
 * The suite makes a cluster of its own with postgresql-common's pg_createcluster, as root or postgres. A
 * machine without them skips it with a warning (a user's `npm test`); CI sets CHAOS_REQUIRED=1, so that
 * there the suite can never be skipped unseen.
 */
const canMakeClusters =
  spawnSync('pg_createcluster', ['--help'], { stdio: 'ignore' }).error === undefined &&
  (process.getuid?.() === 0 || userInfo().username === 'postgres');
if (!canMakeClusters && process.env.CHAOS_REQUIRED !== '1') {
  process.stderr.write(
    'The randomized fault suite is skipped: it needs pg_createcluster (Debian/Ubuntu postgresql-common) ' +
      'and root or the postgres user, to make a PostgreSQL cluster it can stop and kill. CI runs it.\n',
  );
}

(canMakeClusters || process.env.CHAOS_REQUIRED === '1' ? describe : describe.skip)(
  'randomized faults (fast-check, private PostgreSQL cluster, real child processes)',
  () => {
    let suite: SuiteContext;

    beforeAll(async () => {
      suite = await openSuite();
    }, 120_000);
    afterAll(() => {
      if (suite && process.env.CHAOS_KEEP_CLUSTER !== '1') suite.cluster.drop();
    });

    for (const regression of regressions) {
      it(`regression: ${regression.name} (seed ${regression.seed}, path ${regression.path})`, async () => {
        await fc.assert(
          faultProperty(suite, regression.maxCommands, regression.commandSet),
          runParameters({ seed: regression.seed, path: regression.path, runs: 1 }),
        );
      }, 180_000);
    }

    const runs = Number(process.env.CHAOS_RUNS ?? 8);
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;
    it(
      `keeps every invariant through ${runs} random sequences`,
      async () => {
        await fc.assert(faultProperty(suite), runParameters({ seed, runs }));
      },
      300_000 + runs * 10_000,
    );
  },
);
