import fc from 'fast-check';
import { faultProperty, openSuite, runParameters, type SuiteContext } from './fault-suite';
import { regressions } from './regressions';

/**
 * The randomized fault suite under Jest: the named regression sequences, then CHAOS_RUNS random ones
 * (seed CHAOS_SEED, or a new one each run, printed on failure). `npm run chaos` runs more.
 */
describe('randomized faults (fast-check, private PostgreSQL cluster, real child processes)', () => {
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
        faultProperty(suite, regression.maxCommands),
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
});
