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
import { LOG_LEVELS, type LogLevel } from '../statuses';
import { ImportBatchItemEntity } from './import-batch-item.entity';
import { ImportBatchEntity } from './import-batch.entity';

/**
 * The `import_logs` table (the audit log), for applications that want to query it with a TypeORM
 * repository. The module itself writes it with plain SQL; the migrations create it.
 */
@Entity({ name: 'import_logs' })
@Check('CHK_import_logs_level', `"level" IN (${sqlList(LOG_LEVELS)})`)
@Index('IDX_import_logs_batch', ['batchId', 'id'])
@Index('IDX_import_logs_item', ['itemId'])
export class ImportLogEntity {
  /** A bigserial; TypeORM returns it as a string. */
  @PrimaryGeneratedColumn('increment', {
    type: 'bigint',
    primaryKeyConstraintName: 'PK_import_logs',
  })
  id!: string;

  @Column({ name: 'batch_id', type: 'uuid' })
  batchId!: string;

  @ManyToOne(() => ImportBatchEntity, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'batch_id', foreignKeyConstraintName: 'FK_import_logs_batch' })
  batch?: ImportBatchEntity;

  @Column({ name: 'item_id', type: 'uuid', nullable: true })
  itemId!: string | null;

  @ManyToOne(() => ImportBatchItemEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'item_id', foreignKeyConstraintName: 'FK_import_logs_item' })
  item?: ImportBatchItemEntity | null;

  @Column({ type: 'varchar', length: 16 })
  level!: LogLevel;

  @Column({ type: 'text' })
  message!: string;

  @Column({ type: 'jsonb', nullable: true })
  details!: Record<string, unknown> | null;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;
}
