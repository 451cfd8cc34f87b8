import { IsIn, IsOptional } from 'class-validator';
import { ITEM_STATUSES, type ItemStatus } from '../../statuses';
import { PageQuery } from './page.query';
import { AsList } from './query-values';

/** `GET /batches/:id/items`: in order. */
export class ItemsQuery extends PageQuery {
  @IsOptional()
  @AsList()
  @IsIn(ITEM_STATUSES, { each: true })
  status?: ItemStatus[];
}
