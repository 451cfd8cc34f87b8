import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Creates the three tables of nestjs-reliable-imports, their indexes and the two reporting views.
 * Every statement is plain PostgreSQL, so the migration runs on PGlite too.
 */
export class CreateReliableImportsSchema1764000000000 implements MigrationInterface {
  name = 'CreateReliableImportsSchema1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "import_batches" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "batch_type" character varying(100) NOT NULL,
        "status" character varying(32) NOT NULL DEFAULT 'pending',
        "source_info" jsonb NOT NULL DEFAULT '{}',
        "metadata" jsonb NOT NULL DEFAULT '{}',
        "idempotency_key" character varying(255),
        "content_hash" character varying(64),
        "parent_batch_id" uuid,
        "total_items" integer NOT NULL DEFAULT 0,
        "completed_items" integer NOT NULL DEFAULT 0,
        "failed_items" integer NOT NULL DEFAULT 0,
        "skipped_items" integer NOT NULL DEFAULT 0,
        "error_message" text,
        "retry_count" integer NOT NULL DEFAULT 0,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "completed_at" TIMESTAMP WITH TIME ZONE,
        "locked_by" character varying(255),
        "locked_until" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "PK_import_batches" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_import_batches_status" CHECK ("status" IN ('pending', 'processing', 'completed', 'completed_with_errors', 'failed')),
        CONSTRAINT "FK_import_batches_parent" FOREIGN KEY ("parent_batch_id") REFERENCES "import_batches"("id") ON DELETE SET NULL ON UPDATE NO ACTION
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_import_batches_idempotency_key" ON "import_batches" ("idempotency_key") WHERE "idempotency_key" IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batches_status_created" ON "import_batches" ("status", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batches_parent" ON "import_batches" ("parent_batch_id")`,
    );

    await queryRunner.query(`
      CREATE TABLE "import_batch_items" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "batch_id" uuid NOT NULL,
        "item_index" integer NOT NULL,
        "status" character varying(32) NOT NULL DEFAULT 'pending',
        "source_data" jsonb NOT NULL,
        "corrected_data" jsonb,
        "processed_data" jsonb,
        "target_table" character varying(255),
        "target_id" text,
        "error_message" text,
        "error_details" jsonb,
        "attempts" integer NOT NULL DEFAULT 0,
        "original_item_id" uuid,
        "locked_by" character varying(255),
        "locked_until" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "completed_at" TIMESTAMP WITH TIME ZONE,
        "corrected_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "PK_import_batch_items" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_import_batch_items_status" CHECK ("status" IN ('pending', 'processing', 'completed', 'failed', 'skipped')),
        CONSTRAINT "FK_import_batch_items_batch" FOREIGN KEY ("batch_id") REFERENCES "import_batches"("id") ON DELETE CASCADE ON UPDATE NO ACTION,
        CONSTRAINT "FK_import_batch_items_original" FOREIGN KEY ("original_item_id") REFERENCES "import_batch_items"("id") ON DELETE SET NULL ON UPDATE NO ACTION
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_import_batch_items_batch_index" ON "import_batch_items" ("batch_id", "item_index")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_claim" ON "import_batch_items" ("batch_id", "status", "item_index")`,
    );
    // Claims of pending items: an index of only those keeps the claim on them even when the table's
    // statistics still say a processed batch is all pending (the planner would otherwise walk the unique
    // index past every finished item, on every claim).
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_pending" ON "import_batch_items" ("batch_id", "item_index") WHERE "status" = 'pending'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_batch_items_original" ON "import_batch_items" ("original_item_id")`,
    );

    await queryRunner.query(`
      CREATE TABLE "import_logs" (
        "id" BIGSERIAL NOT NULL,
        "batch_id" uuid NOT NULL,
        "item_id" uuid,
        "level" character varying(16) NOT NULL,
        "message" text NOT NULL,
        "details" jsonb,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "PK_import_logs" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_import_logs_level" CHECK ("level" IN ('debug', 'info', 'warn', 'error')),
        CONSTRAINT "FK_import_logs_batch" FOREIGN KEY ("batch_id") REFERENCES "import_batches"("id") ON DELETE CASCADE ON UPDATE NO ACTION,
        CONSTRAINT "FK_import_logs_item" FOREIGN KEY ("item_id") REFERENCES "import_batch_items"("id") ON DELETE CASCADE ON UPDATE NO ACTION
      )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_import_logs_batch" ON "import_logs" ("batch_id", "id")`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_import_logs_item" ON "import_logs" ("item_id")`);

    await queryRunner.query(`
      CREATE VIEW "import_batch_summary" AS
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
        END AS "items_per_second"
      FROM "import_batches" b
      CROSS JOIN LATERAL (
        SELECT
          count(*)::integer AS "total_items",
          (count(*) FILTER (WHERE i."status" = 'pending'))::integer AS "pending_items",
          (count(*) FILTER (WHERE i."status" = 'processing'))::integer AS "processing_items",
          (count(*) FILTER (WHERE i."status" = 'completed'))::integer AS "completed_items",
          (count(*) FILTER (WHERE i."status" = 'failed'))::integer AS "failed_items",
          (count(*) FILTER (WHERE i."status" = 'skipped'))::integer AS "skipped_items"
        FROM "import_batch_items" i
        WHERE i."batch_id" = b."id"
      ) c`);

    await queryRunner.query(`
      CREATE VIEW "failed_imports_report" AS
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
        ) AS "resolved"
      FROM "import_batches" b
      LEFT JOIN "import_batch_items" i
        ON i."batch_id" = b."id" AND i."status" IN ('failed', 'skipped')
      WHERE b."status" IN ('failed', 'completed_with_errors')`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW IF EXISTS "failed_imports_report"`);
    await queryRunner.query(`DROP VIEW IF EXISTS "import_batch_summary"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "import_logs"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "import_batch_items"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "import_batches"`);
  }
}
