import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import type { RecoveryFileFormat } from '../../interfaces/recovery.interface';
import { PageQuery } from './page.query';
import { AsBoolean } from './query-values';

/** `GET /batches/:id/failures`: the tree's unresolved rows, in source order. */
export class FailuresQuery extends PageQuery {
  @IsOptional()
  @AsBoolean()
  @IsBoolean()
  includeResolved?: boolean;
}

/** `GET /batches/:id/failures/export`. */
export class ExportQuery {
  /** @default 'csv' */
  @IsOptional()
  @IsIn(['csv', 'jsonl'])
  format?: RecoveryFileFormat;
}
