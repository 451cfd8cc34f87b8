import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What scrubbing personal data records on a row (`@ImportProcessor({ scrub })`, `scrubSourceData`):
 *
 * - `import_batch_items.scrubbed_at`: when the row's data was scrubbed (its source and corrected data cut
 *   to the processor's `keepFields`, its result, error texts and its audit-log details removed); null for a
 *   row that was not. A scrubbed row is never corrected or reprocessed.
 * - `import_batch_items.source_digest`: the SHA-256 (hex) of the row's source data as it was stored, as
 *   PostgreSQL writes jsonb as text, so that a row still in hand can be matched to it.
 *
 * Both are nullable and added without a default: no table is rewritten or scanned, the lock lasts an
 * instant whatever the size of the table.
 */
export class AddScrubbing1764600000000 implements MigrationInterface {
  name = 'AddScrubbing1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        ADD COLUMN "scrubbed_at" TIMESTAMP WITH TIME ZONE,
        ADD COLUMN "source_digest" character varying(64)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        DROP COLUMN IF EXISTS "source_digest",
        DROP COLUMN IF EXISTS "scrubbed_at"`);
  }
}
