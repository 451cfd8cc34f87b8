import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { sqlList } from '../processing/statements/statement';
import { BATCH_STATUS, BATCH_STATUSES, type BatchStatus } from '../statuses';

/**
 * The `import_batches` table, for applications that want to query batches with a TypeORM repository.
 * The module itself reads and writes it with plain SQL; the migrations create it.
 */
@Entity({ name: 'import_batches' })
@Check('CHK_import_batches_status', `"status" IN (${sqlList(BATCH_STATUSES)})`)
@Check('CHK_import_batches_source_columns', `jsonb_typeof("source_columns") = 'array'`)
@Index('UQ_import_batches_idempotency_key', ['idempotencyKey'], {
  unique: true,
  where: '"idempotency_key" IS NOT NULL',
})
@Index('IDX_import_batches_status_created', ['status', 'createdAt'])
@Index('IDX_import_batches_parent', ['parentBatchId'])
export class ImportBatchEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_import_batches' })
  id!: string;

  @Column({ name: 'batch_type', type: 'varchar', length: 100 })
  batchType!: string;

  @Column({ type: 'varchar', length: 32, default: BATCH_STATUS.pending })
  status!: BatchStatus;

  @Column({ name: 'source_info', type: 'jsonb', default: () => "'{}'" })
  sourceInfo!: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  metadata!: Record<string, unknown>;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  /** SHA-256 of the batch type and items, to tell a repeated create from a conflicting one. */
  @Column({ name: 'content_hash', type: 'varchar', length: 64, nullable: true })
  contentHash!: string | null;

  /** The column names of the source file in their order (jsonb keeps no order of keys). */
  @Column({ name: 'source_columns', type: 'jsonb', nullable: true })
  sourceColumns!: string[] | null;

  @Column({ name: 'parent_batch_id', type: 'uuid', nullable: true })
  parentBatchId!: string | null;

  @ManyToOne(() => ImportBatchEntity, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'parent_batch_id', foreignKeyConstraintName: 'FK_import_batches_parent' })
  parentBatch?: ImportBatchEntity | null;

  @Column({ name: 'total_items', type: 'integer', default: 0 })
  totalItems!: number;

  @Column({ name: 'completed_items', type: 'integer', default: 0 })
  completedItems!: number;

  @Column({ name: 'failed_items', type: 'integer', default: 0 })
  failedItems!: number;

  @Column({ name: 'skipped_items', type: 'integer', default: 0 })
  skippedItems!: number;

  @Column({ name: 'cancelled_items', type: 'integer', default: 0 })
  cancelledItems!: number;

  @Column({ name: 'error_message', type: 'text', nullable: true })
  errorMessage!: string | null;

  @Column({ name: 'retry_count', type: 'integer', default: 0 })
  retryCount!: number;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'timestamp with time zone', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamp with time zone', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'locked_by', type: 'varchar', length: 255, nullable: true })
  lockedBy!: string | null;

  @Column({ name: 'locked_until', type: 'timestamp with time zone', nullable: true })
  lockedUntil!: Date | null;

  /**
   * The W3C trace context (`traceparent`, and `tracestate` when there was one) of the span that was
   * active where the batch was created, which its runs' spans link to; null when none was. Written by the
   * module as its propagator gave it; a value read back is checked before use, never trusted.
   */
  @Column({ name: 'trace_context', type: 'jsonb', nullable: true })
  traceContext!: { traceparent: string; tracestate?: string } | null;
}
