import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { sqlList, sqlWord } from '../processing/statements/statement';
import { DRY_RUN_OUTCOMES, ITEM_STATUS, ITEM_STATUSES, type ItemStatus } from '../statuses';
import { ImportBatchEntity } from './import-batch.entity';

/**
 * The `import_batch_items` table, for applications that want to query items with a TypeORM repository.
 * The module itself reads and writes it with plain SQL; the migrations create it.
 */
@Entity({ name: 'import_batch_items' })
@Check('CHK_import_batch_items_status', `"status" IN (${sqlList(ITEM_STATUSES)})`)
@Check('CHK_import_batch_items_source_line', `"source_line" >= 1`)
@Check(
  'CHK_import_batch_items_dry_run_outcome',
  `"dry_run_outcome" IN (${sqlList(DRY_RUN_OUTCOMES)})`,
)
@Check(
  'CHK_import_batch_items_lease',
  `"locked_by" IS NULL OR "status" = ${sqlWord(ITEM_STATUS.processing)}`,
)
@Index('UQ_import_batch_items_batch_index', ['batchId', 'itemIndex'], { unique: true })
@Index('IDX_import_batch_items_in_flight_or_unapplied', ['batchId', 'status', 'itemIndex'], {
  where: `"status" NOT IN (${sqlWord(ITEM_STATUS.pending)}, ${sqlWord(ITEM_STATUS.completed)})`,
})
@Index('IDX_import_batch_items_pending', ['batchId', 'itemIndex'], {
  where: `"status" = ${sqlWord(ITEM_STATUS.pending)}`,
})
@Index('IDX_import_batch_items_original', ['originalItemId'], {
  where: `"original_item_id" IS NOT NULL`,
})
export class ImportBatchItemEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_import_batch_items' })
  id!: string;

  @Column({ name: 'batch_id', type: 'uuid' })
  batchId!: string;

  @ManyToOne(() => ImportBatchEntity, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'batch_id', foreignKeyConstraintName: 'FK_import_batch_items_batch' })
  batch?: ImportBatchEntity;

  @Column({ name: 'item_index', type: 'integer' })
  itemIndex!: number;

  @Column({ type: 'varchar', length: 32, default: ITEM_STATUS.pending })
  status!: ItemStatus;

  @Column({ name: 'source_data', type: 'jsonb' })
  sourceData!: Record<string, unknown>;

  @Column({ name: 'corrected_data', type: 'jsonb', nullable: true })
  correctedData!: Record<string, unknown> | null;

  @Column({ name: 'processed_data', type: 'jsonb', nullable: true })
  processedData!: unknown;

  @Column({ name: 'target_table', type: 'varchar', length: 255, nullable: true })
  targetTable!: string | null;

  @Column({ name: 'target_id', type: 'text', nullable: true })
  targetId!: string | null;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'error_details', type: 'jsonb', nullable: true })
  errorDetails!: Record<string, unknown> | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** The row's line in its source file, from 1; null when the items came from no file. */
  @Column({ name: 'source_line', type: 'integer', nullable: true })
  sourceLine!: number | null;

  /** What the last dry run found for the row (`completed`, `failed`, `skipped`); null before one. */
  @Column({ name: 'dry_run_outcome', type: 'varchar', length: 16, nullable: true })
  dryRunOutcome!: string | null;

  /** Why the last dry run found the row would fail or be skipped. */
  @Column({ name: 'dry_run_error', type: 'text', nullable: true })
  dryRunError!: string | null;

  @Column({ name: 'dry_run_at', type: 'timestamp with time zone', nullable: true })
  dryRunAt!: Date | null;

  @Column({ name: 'original_item_id', type: 'uuid', nullable: true })
  originalItemId!: string | null;

  @ManyToOne(() => ImportBatchItemEntity, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({
    name: 'original_item_id',
    foreignKeyConstraintName: 'FK_import_batch_items_original',
  })
  originalItem?: ImportBatchItemEntity | null;

  @Column({ name: 'locked_by', type: 'varchar', length: 255, nullable: true })
  lockedBy!: string | null;

  @Column({ name: 'locked_until', type: 'timestamp with time zone', nullable: true })
  lockedUntil!: Date | null;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'timestamp with time zone', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamp with time zone', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'corrected_at', type: 'timestamp with time zone', nullable: true })
  correctedAt!: Date | null;

  /** When the row's personal data was scrubbed (`scrub` of its processor); null when it was not. */
  @Column({ name: 'scrubbed_at', type: 'timestamp with time zone', nullable: true })
  scrubbedAt!: Date | null;

  /** SHA-256 (hex) of the source data as it was stored (`source_data::text`), kept by a scrub. */
  @Column({ name: 'source_digest', type: 'varchar', length: 64, nullable: true })
  sourceDigest!: string | null;
}
