import { IsIn, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { BATCH_STATUSES, type BatchStatus } from '../../statuses';
import { PageQuery } from './page.query';
import { AsList } from './query-values';

/** `GET /batches`: newest first. */
export class ListBatchesQuery extends PageQuery {
  @IsOptional()
  @AsList()
  @IsIn(BATCH_STATUSES, { each: true })
  status?: BatchStatus[];

  @IsOptional()
  @IsString()
  @MaxLength(200)
  batchType?: string;

  @IsOptional()
  @IsUUID()
  parentBatchId?: string;
}
