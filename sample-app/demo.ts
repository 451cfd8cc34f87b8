import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { BatchService, readCorrections, readCsv, type BatchSummary } from 'nestjs-reliable-imports';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppModule } from './app.module';
import type { CustomerRow } from './customers/customer-data.processor';
import { databaseLabel } from './database';

/**
 * The newcomer's tour: import customers.csv (28 of its 500 rows are invalid), show what failed and why,
 * apply the corrections, reprocess only the failures, and show that every row is in.
 */
const DATA = join(__dirname, '..', '..', 'sample-app', 'data');

function printSummary(title: string, summary: BatchSummary): void {
  console.log(`\n${title}`);
  console.log(`  batch      ${summary.batchId} (${summary.status})`);
  console.log(
    `  items      ${summary.totalItems} total, ${summary.completedItems} completed, ${summary.failedItems} failed`,
  );
  console.log(
    `  took       ${summary.durationMs} ms (${Math.round(summary.itemsPerSecond ?? 0)} items/s)`,
  );
}

/** What a user does in a spreadsheet: fill in the right values of each failed row (by its line). */
function fixLikeAUser(exported: string): { csv: string; count: number } {
  const corrections = JSON.parse(readFileSync(join(DATA, 'corrections.json'), 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  const records: string[][] = parse(exported);
  const [header, ...rows] = records;
  let count = 0;
  for (const cells of rows) {
    const fix = corrections[cells[header.indexOf('_line')]];
    if (!fix) continue;
    for (const [column, value] of Object.entries(fix)) cells[header.indexOf(column)] = value;
    count++;
  }
  return { csv: stringify([header, ...rows]), count };
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule.forDatabase(), {
    logger: ['error', 'warn'],
  });
  try {
    const batches = app.get(BatchService);
    console.log(`Database: ${databaseLabel()}`);

    const file = join(DATA, 'customers.csv');
    const batch = await batches.createBatch('customer_data', readCsv(createReadStream(file)), {
      sourceInfo: { file: 'customers.csv' },
    });
    const first = await batches.processBatch(batch.id);
    printSummary('Imported customers.csv', first);

    const failed = await batches.getFailures<CustomerRow>(batch.id);
    const byReason = new Map<string, number[]>();
    for (const row of failed) {
      for (const reason of row.reasons) {
        byReason.set(reason, [...(byReason.get(reason) ?? []), row.line ?? 0]);
      }
    }
    console.log('\nFailures by reason (CSV line numbers):');
    for (const [reason, lines] of byReason) {
      console.log(`  ${String(lines.length).padStart(3)} × ${reason}: lines ${lines.join(', ')}`);
    }

    // The operator's round trip: the failures as a CSV file, fixed in a spreadsheet, given back.
    const failuresFile = join(mkdtempSync(join(tmpdir(), 'reliable-imports-')), 'failures.csv');
    await pipeline(await batches.exportFailures(batch.id), createWriteStream(failuresFile));
    console.log(`\nExported the ${failed.length} failures to ${failuresFile}`);
    const fixed = fixLikeAUser(readFileSync(failuresFile, 'utf8'));
    writeFileSync(failuresFile, fixed.csv);
    console.log(`Fixed ${fixed.count} rows in it (as a user would, from corrections.json)`);

    const second = await batches.reprocessBatch(batch.id, {
      corrections: readCorrections(createReadStream(failuresFile), { format: 'csv' }),
    });
    printSummary('Reprocessed the failed rows with the fixed file', second);

    const lineage = await batches.getLineage(batch.id);
    console.log(
      `\nEvery row of customers.csv: ${lineage.completedFirstTime} the first time, ${lineage.resolved} resolved by the reprocess, ${lineage.unresolved} unresolved.`,
    );
    const imported = first.completedItems + second.completedItems;
    console.log(
      `\nDone: ${imported} of ${first.totalItems} customers imported (${first.completedItems} in the first batch, ${second.completedItems} after corrections).`,
    );
    if (imported !== first.totalItems) process.exitCode = 1;
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  new Logger('demo').error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
