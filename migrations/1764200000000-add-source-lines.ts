import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The report view of the initial migration, with `extra` columns after its own. */
const failedImportsReport = (extra: string): string => `
      SELECT
        b."id" AS "batch_id",
        b."batch_type",
        b."status" AS "batch_status",
        b."error_message" AS "batch_error_message",
        b."created_at" AS "batch_created_at",
        i."id" AS "item_id",
        i."item_index",
        i."status" AS "item_status",
        i."error_message",
        i."error_details" ->> 'code' AS "error_code",
        i."attempts",
        i."source_data",
        i."corrected_data",
        i."completed_at" AS "failed_at",
        EXISTS (
          SELECT 1 FROM "import_batch_items" r
          WHERE r."original_item_id" = COALESCE(i."original_item_id", i."id") AND r."status" = 'completed'
        ) AS "resolved"${extra}
      FROM "import_batches" b
      LEFT JOIN "import_batch_items" i
        ON i."batch_id" = b."id" AND i."status" IN ('failed', 'skipped')
      WHERE b."status" IN ('failed', 'completed_with_errors')`;

/**
 * Where each row came from: its line in the source file (`import_batch_items.source_line`, 1-based as an
 * editor shows it) and the file's column order (`import_batches.source_columns`, since jsonb does not keep
 * the order of keys), so that a failures export reads like the file it came from. Both are nullable and
 * added without a default, and their checks are NOT VALID (they hold for every row written from now on;
 * the rows already there are NULL), so the migration neither rewrites nor scans a table: its lock lasts
 * an instant, whatever the size of the tables.
 */
export class AddSourceLines1764200000000 implements MigrationInterface {
  name = 'AddSourceLines1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        ADD COLUMN "source_line" integer,
        ADD CONSTRAINT "CHK_import_batch_items_source_line" CHECK ("source_line" >= 1) NOT VALID`);
    await queryRunner.query(`
      ALTER TABLE "import_batches"
        ADD COLUMN "source_columns" jsonb,
        ADD CONSTRAINT "CHK_import_batches_source_columns" CHECK (jsonb_typeof("source_columns") = 'array') NOT VALID`);
    // CREATE OR REPLACE VIEW may only add columns at the end: source_line comes last.
    await queryRunner.query(
      `CREATE OR REPLACE VIEW "failed_imports_report" AS ${failedImportsReport(',\n        i."source_line"')}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW IF EXISTS "failed_imports_report"`);
    await queryRunner.query(`CREATE VIEW "failed_imports_report" AS ${failedImportsReport('')}`);
    await queryRunner.query(`
      ALTER TABLE "import_batches"
        DROP CONSTRAINT IF EXISTS "CHK_import_batches_source_columns",
        DROP COLUMN IF EXISTS "source_columns"`);
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        DROP CONSTRAINT IF EXISTS "CHK_import_batch_items_source_line",
        DROP COLUMN IF EXISTS "source_line"`);
  }
}
