import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where a batch was created, for tracing (`import_batches.trace_context`): the W3C trace context
 * (`{ "traceparent": ..., "tracestate": ... }`) of the span that was active in the process that created
 * it, when one was, so that every run of the batch, in whatever process, links its span to that one.
 * Null for a batch created with no span active, without OpenTelemetry, or before this migration.
 *
 * Nullable and added without a default: no table is rewritten or scanned, the lock lasts an instant
 * whatever the size of the table.
 */
export class AddTraceContext1764800000000 implements MigrationInterface {
  name = 'AddTraceContext1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_batches" ADD COLUMN "trace_context" jsonb`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_batches" DROP COLUMN IF EXISTS "trace_context"`);
  }
}
