import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getMetadataArgsStorage } from 'typeorm';
import { reliableImportsEntities } from '../../lib';
import { BATCH_STATUSES, DRY_RUN_OUTCOMES, ITEM_STATUSES, LOG_LEVELS } from '../../lib/statuses';

const MIGRATIONS = join(__dirname, '../../migrations');

/** The words of the newest CHECK named `name` in the migrations (which are never edited, only added). */
function wordsOfNewestCheck(name: string): string[] {
  const files = readdirSync(MIGRATIONS)
    .filter((file) => /^\d+-.+\.ts$/.test(file))
    .sort();
  let words: string[] | null = null;
  for (const file of files) {
    const text = readFileSync(join(MIGRATIONS, file), 'utf8');
    const pattern = new RegExp(`"${name}" CHECK \\("\\w+" IN \\(([^)]*)\\)\\)`, 'g');
    for (const match of text.matchAll(pattern)) {
      words = [...match[1].matchAll(/'([^']*)'/g)].map((word) => word[1]);
    }
  }
  if (words === null) throw new Error(`No migration defines ${name}`);
  return words;
}

function wordsOfEntityCheck(name: string): string[] {
  expect(reliableImportsEntities.length).toBeGreaterThan(0);
  const check = getMetadataArgsStorage().checks.find((entry) => entry.name === name);
  if (!check?.expression) throw new Error(`No entity declares ${name}`);
  return [...check.expression.matchAll(/'([^']*)'/g)].map((word) => word[1]);
}

/** Each status or level check constraint, and the constant list it must allow. */
const CHECKED_CONSTANTS: Array<[string, readonly string[]]> = [
  ['CHK_import_batches_status', BATCH_STATUSES],
  ['CHK_import_batch_items_status', ITEM_STATUSES],
  ['CHK_import_logs_level', LOG_LEVELS],
  ['CHK_import_batch_items_dry_run_outcome', DRY_RUN_OUTCOMES],
];

describe('statuses and log levels, spelled once (lib/statuses.ts)', () => {
  it.each(CHECKED_CONSTANTS)(
    '%s in the migrations allows exactly the constants',
    (name, constants) => {
      expect(wordsOfNewestCheck(name)).toEqual([...constants]);
    },
  );

  it.each(CHECKED_CONSTANTS)(
    '%s of the entities is built from the constants',
    (name, constants) => {
      expect(wordsOfEntityCheck(name)).toEqual([...constants]);
    },
  );

  it('finds the checks in the migrations as written there', () => {
    // Guards the parser above: should it stop matching, the comparisons would compare nothing.
    expect(wordsOfNewestCheck('CHK_import_batches_status')).toHaveLength(9);
    expect(wordsOfNewestCheck('CHK_import_batch_items_status')).toHaveLength(6);
  });
});
