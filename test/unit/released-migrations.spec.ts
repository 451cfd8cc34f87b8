import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reliableImportsMigrations } from '../../migrations';

/**
 * A migration that an app has run is never run again there, so an edit of it would never reach that app:
 * a change of the schema is a new migration, and the files below stay as they are. Each is pinned by the
 * SHA-256 of its text; a release adds its new migrations here (RELEASE.md).
 */
const RELEASED: Record<string, string> = {
  '1764000000000-create-reliable-imports-schema.ts':
    '3d1500604f438b8eba22bad2a07ecc64294efdc28674d88e56517bc5e3c3ad6c',
  '1764200000000-add-source-lines.ts':
    '704fbb7879e757538f64b73d9d4ca6565ee06e95d01131f69abbbc4f47957bd6',
  '1764400000000-add-operator-control.ts':
    'eddd684f4ca160c964560cd4a297ca2cc79f786dc1fcda095273c629f778ea0c',
};

const DIR = join(__dirname, '..', '..', 'migrations');

describe('released migrations', () => {
  it.each(Object.entries(RELEASED))(
    '%s is unchanged (add a new migration instead)',
    (file, sha) => {
      expect(
        createHash('sha256')
          .update(readFileSync(join(DIR, file)))
          .digest('hex'),
      ).toBe(sha);
    },
  );

  it('are all still there, and every newer migration comes after them', () => {
    const files = readdirSync(DIR).filter((name) => /^\d+-.+\.ts$/.test(name));
    expect(files).toEqual(expect.arrayContaining(Object.keys(RELEASED)));
    const newest = Math.max(...Object.keys(RELEASED).map((name) => Number(name.split('-')[0])));
    const unreleased = files.filter((name) => !(name in RELEASED));
    for (const name of unreleased) expect(Number(name.split('-')[0])).toBeGreaterThan(newest);
  });

  it('are, with every newer one, in reliableImportsMigrations in the order of their timestamps', () => {
    // A migration file left out of the list would never run in an app.
    const timestamps = readdirSync(DIR)
      .filter((name) => /^\d+-.+\.ts$/.test(name))
      .map((name) => Number(name.split('-')[0]))
      .sort((a, b) => a - b);
    expect(
      reliableImportsMigrations.map((migration) => Number(/\d+$/.exec(migration.name)?.[0])),
    ).toEqual(timestamps);
  });
});
