import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { LOG_LEVELS, type LogLevel } from '../../statuses';
import { PageQuery } from './page.query';
import { AsList } from './query-values';

/** `GET /batches/:id/logs`: oldest first. */
export class LogsQuery extends PageQuery {
  @IsOptional()
  @AsList()
  @IsIn(LOG_LEVELS, { each: true })
  level?: LogLevel[];

  @IsOptional()
  @IsUUID()
  itemId?: string;
}
