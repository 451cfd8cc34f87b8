import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BatchService, type BatchSummary } from 'nestjs-reliable-imports';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppModule } from './app.module';
import type { CustomerRow } from './customers/customer-data.processor';
import { readCustomersCsv } from './customers/read-customers-csv';
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

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule.forDatabase(), {
    logger: ['error', 'warn'],
  });
  try {
    const batches = app.get(BatchService);
    console.log(`Database: ${databaseLabel()}`);

    const file = join(DATA, 'customers.csv');
    const batch = await batches.createBatch('customer_data', readCustomersCsv(file), {
      sourceInfo: { file: 'customers.csv' },
    });
    const first = await batches.processBatch(batch.id);
    printSummary('Imported customers.csv', first);

    const failed = await batches.getItems<CustomerRow>(batch.id, { status: 'failed' });
    const byReason = new Map<string, number[]>();
    for (const item of failed) {
      for (const reason of item.errorMessage!.split('; ')) {
        byReason.set(reason, [...(byReason.get(reason) ?? []), item.itemIndex + 2]);
      }
    }
    console.log('\nFailures by reason (CSV line numbers):');
    for (const [reason, lines] of byReason) {
      console.log(`  ${String(lines.length).padStart(3)} × ${reason}: lines ${lines.join(', ')}`);
    }

    const corrections = JSON.parse(readFileSync(join(DATA, 'corrections.json'), 'utf8')) as Record<
      string,
      CustomerRow
    >;
    let corrected = 0;
    for (const item of failed) {
      const fix = corrections[String(item.itemIndex + 2)];
      if (fix) {
        await batches.correctItem(item.id, fix);
        corrected++;
      }
    }
    console.log(`\nApplied ${corrected} corrections from corrections.json`);

    const second = await batches.reprocessBatch(batch.id, { failedItemsOnly: true });
    printSummary('Reprocessed the failed items', second);

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
