import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The summary view of the initial migration, with `extra` counts after its own columns. */
const batchSummary = (extra: string, extraCounts: string): string => `
      SELECT
        b."id" AS "batch_id",
        b."batch_type",
        b."status",
        b."parent_batch_id",
        c."total_items",
        c."pending_items",
        c."processing_items",
        c."completed_items",
        c."failed_items",
        c."skipped_items",
        b."error_message",
        b."created_at",
        b."started_at",
        b."completed_at",
        CASE WHEN b."started_at" IS NOT NULL
          THEN round(EXTRACT(EPOCH FROM (COALESCE(b."completed_at", now()) - b."started_at")) * 1000)::bigint
        END AS "duration_ms",
        CASE WHEN b."started_at" IS NOT NULL
              AND COALESCE(b."completed_at", now()) > b."started_at"
          THEN round(((c."completed_items" + c."failed_items" + c."skipped_items")
                / EXTRACT(EPOCH FROM (COALESCE(b."completed_at", now()) - b."started_at")))::numeric, 2)
        END AS "items_per_second"${extra}
      FROM "import_batches" b
      CROSS JOIN LATERAL (
        SELECT
          count(*)::integer AS "total_items",
          (count(*) FILTER (WHERE i."status" = 'pending'))::integer AS "pending_items",
          (count(*) FILTER (WHERE i."status" = 'processing'))::integer AS "processing_items",
          (count(*) FILTER (WHERE i."status" = 'completed'))::integer AS "completed_items",
          (count(*) FILTER (WHERE i."status" = 'failed'))::integer AS "failed_items",
          (count(*) FILTER (WHERE i."status" = 'skipped'))::integer AS "skipped_items"${extraCounts}
        FROM "import_batch_items" i
        WHERE i."batch_id" = b."id"
      ) c`;

const BATCH_STATUSES_BEFORE = `'pending', 'processing', 'completed', 'completed_with_errors', 'failed'`;
const ITEM_STATUSES_BEFORE = `'pending', 'processing', 'completed', 'failed', 'skipped'`;

/**
 * A status check as it was before this migration (for `down`). Built from its name, so that the test that
 * reads the newest check of each table (`test/unit/statuses.spec.ts`) reads the ones `up` writes.
 */
const statusCheck = (name: string, statuses: string): string =>
  `CONSTRAINT "${name}" CHECK ("status" IN (${statuses}))`;

/**
 * What an operator controls a batch with: pausing, resuming and cancelling it, approving it before it
 * runs, a dry run's verdict on each row, and progress counters cheap enough to poll.
 *
 * - Statuses: a batch may be `paused`, `cancelled`, `awaiting_approval` or `rejected`; an item may be
 *   `cancelled` (a row of a cancelled batch that no run took). The checks are replaced NOT VALID: they are
 *   wider than the old ones, so the rows already there hold, and no table is scanned under the lock.
 * - `import_batches.cancelled_items`: the count at the end, beside the other counts.
 * - `import_batch_items.dry_run_outcome`, `dry_run_error`, `dry_run_at`: what a dry run found for the row
 *   (its status is not changed by a dry run).
 * - `import_batch_progress`: counts of the outcomes recorded, written by the statement that records them
 *   (so that they cannot drift from the rows), one row per run and 10-second bucket (so that runs do not
 *   wait on each other's counter, and a recent rate is a sum of a few rows).
 * - `import_batch_summary` gains `cancelled_items` (last: CREATE OR REPLACE VIEW may only add columns).
 *
 * Columns are added without a default that needs a rewrite, and the checks are not validated: every lock
 * lasts an instant but the counters' first fill, one read of the items that holds no lock on them.
 */
export class AddOperatorControl1764400000000 implements MigrationInterface {
  name = 'AddOperatorControl1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE "import_batches"
        DROP CONSTRAINT "CHK_import_batches_status",
        ADD CONSTRAINT "CHK_import_batches_status" CHECK ("status" IN ('pending', 'processing', 'completed', 'completed_with_errors', 'failed', 'paused', 'cancelled', 'awaiting_approval', 'rejected')) NOT VALID,
        ADD COLUMN "cancelled_items" integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        DROP CONSTRAINT "CHK_import_batch_items_status",
        ADD CONSTRAINT "CHK_import_batch_items_status" CHECK ("status" IN ('pending', 'processing', 'completed', 'failed', 'skipped', 'cancelled')) NOT VALID,
        ADD COLUMN "dry_run_outcome" character varying(16),
        ADD COLUMN "dry_run_error" text,
        ADD COLUMN "dry_run_at" TIMESTAMP WITH TIME ZONE,
        ADD CONSTRAINT "CHK_import_batch_items_dry_run_outcome" CHECK ("dry_run_outcome" IN ('completed', 'failed', 'skipped')) NOT VALID`);
    await queryRunner.query(`
      CREATE TABLE "import_batch_progress" (
        "batch_id" uuid NOT NULL,
        "bucket" TIMESTAMP WITH TIME ZONE NOT NULL,
        "worker_id" character varying(255) NOT NULL,
        "completed" integer NOT NULL DEFAULT 0,
        "failed" integer NOT NULL DEFAULT 0,
        "skipped" integer NOT NULL DEFAULT 0,
        CONSTRAINT "PK_import_batch_progress" PRIMARY KEY ("batch_id", "bucket", "worker_id"),
        CONSTRAINT "FK_import_batch_progress_batch" FOREIGN KEY ("batch_id") REFERENCES "import_batches"("id") ON DELETE CASCADE ON UPDATE NO ACTION
      )`);
    // The outcomes recorded before the counters existed, in one row per batch (worker 'migration', left
    // out of the recent rate): a batch begun before the upgrade goes on with counts that add up.
    await queryRunner.query(`
      INSERT INTO "import_batch_progress" ("batch_id", "bucket", "worker_id", "completed", "failed", "skipped")
      SELECT "batch_id", TIMESTAMPTZ '2000-01-01', 'migration',
             count(*) FILTER (WHERE "status" = 'completed'),
             count(*) FILTER (WHERE "status" = 'failed'),
             count(*) FILTER (WHERE "status" = 'skipped')
      FROM "import_batch_items"
      WHERE "status" IN ('completed', 'failed', 'skipped')
      GROUP BY "batch_id"`);
    await queryRunner.query(
      `CREATE OR REPLACE VIEW "import_batch_summary" AS ${batchSummary(
        `,\n        c."cancelled_items"`,
        `,\n          (count(*) FILTER (WHERE i."status" = 'cancelled'))::integer AS "cancelled_items"`,
      )}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW IF EXISTS "import_batch_summary"`);
    await queryRunner.query(`CREATE VIEW "import_batch_summary" AS ${batchSummary('', '')}`);
    await queryRunner.query(`DROP TABLE IF EXISTS "import_batch_progress"`);
    // The statuses that did not exist before come back as the nearest that did.
    await queryRunner.query(
      `UPDATE "import_batch_items" SET "status" = 'skipped' WHERE "status" = 'cancelled'`,
    );
    await queryRunner.query(`
      UPDATE "import_batches" SET "status" = CASE "status"
        WHEN 'paused' THEN 'processing' WHEN 'awaiting_approval' THEN 'pending' ELSE 'failed' END
      WHERE "status" IN ('paused', 'cancelled', 'awaiting_approval', 'rejected')`);
    await queryRunner.query(`
      ALTER TABLE "import_batch_items"
        DROP CONSTRAINT IF EXISTS "CHK_import_batch_items_dry_run_outcome",
        DROP COLUMN IF EXISTS "dry_run_at",
        DROP COLUMN IF EXISTS "dry_run_error",
        DROP COLUMN IF EXISTS "dry_run_outcome",
        DROP CONSTRAINT "CHK_import_batch_items_status",
        ADD ${statusCheck('CHK_import_batch_items_status', ITEM_STATUSES_BEFORE)}`);
    await queryRunner.query(`
      ALTER TABLE "import_batches"
        DROP COLUMN IF EXISTS "cancelled_items",
        DROP CONSTRAINT "CHK_import_batches_status",
        ADD ${statusCheck('CHK_import_batches_status', BATCH_STATUSES_BEFORE)}`);
  }
}
