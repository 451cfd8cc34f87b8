import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fewer index entries written per row processed. Every change of an item's status is an update that
 * PostgreSQL cannot make in place (a partial index names `status`), so it adds an entry to every index of
 * `import_batch_items` that covers the new row version:
 *
 * - `IDX_import_batch_items_claim` (`batch_id, status, item_index`, every row) is replaced by
 *   `IDX_import_batch_items_in_flight_or_unapplied`, the same columns for the rows that are neither pending
 *   nor completed: those in flight (claims that expired, claims to give back, the progress's rows in flight)
 *   and those failed, skipped or cancelled (failures, reprocesses, the progress's cancelled rows). A claim
 *   adds one entry to it, a completion none, and creating a batch none (pending rows have their own index).
 * - `IDX_import_batch_items_original` keeps only the rows that have an original (the rows of reprocesses):
 *   the rows of a first import, whose `original_item_id` is null, were all entries at one end of it, a page
 *   that every lane changed at once.
 *
 * That takes two entries of four off a claim and two off a completion (the README's Performance has the
 * figures). And a rule:
 *
 * - `CHK_import_batch_items_lease`: only a processing row has a holder (`locked_by`). Every statement that
 *   takes a row out of processing clears it already; the check makes it a rule, on which the outcome's
 *   fence relies: it names the holder alone, not the status, so that the planner finds the row by its
 *   primary key and not on the index of rows in flight.
 *
 * The module reads and writes the same with or without it (only plans change), so the startup check does
 * not ask for it. It builds two indexes and checks every row: on a table of millions of rows,
 * `import_batch_items` waits for that while it runs (under a second per million rows on the machine of the
 * README's Performance); run it between imports.
 */
export class NarrowItemIndexes1765000000000 implements MigrationInterface {
  name = 'NarrowItemIndexes1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_in_flight_or_unapplied" ON "import_batch_items" ("batch_id", "status", "item_index") WHERE "status" NOT IN ('pending', 'completed')`,
    );
    await queryRunner.query(`DROP INDEX "IDX_import_batch_items_claim"`);
    await queryRunner.query(`DROP INDEX "IDX_import_batch_items_original"`);
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_original" ON "import_batch_items" ("original_item_id") WHERE "original_item_id" IS NOT NULL`,
    );
    await queryRunner.query(
      `ALTER TABLE "import_batch_items" ADD CONSTRAINT "CHK_import_batch_items_lease" CHECK ("locked_by" IS NULL OR "status" = 'processing')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "import_batch_items" DROP CONSTRAINT "CHK_import_batch_items_lease"`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_claim" ON "import_batch_items" ("batch_id", "status", "item_index")`,
    );
    await queryRunner.query(`DROP INDEX "IDX_import_batch_items_in_flight_or_unapplied"`);
    await queryRunner.query(`DROP INDEX "IDX_import_batch_items_original"`);
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_original" ON "import_batch_items" ("original_item_id")`,
    );
  }
}
