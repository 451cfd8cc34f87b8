import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { AsNumber } from './query-values';

/** `limit` and `offset` of a listing. */
export class PageQuery {
  /** How many, from 1 to 1000; each listing has its default. */
  @IsOptional()
  @AsNumber()
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  /** How many to skip. @default 0 */
  @IsOptional()
  @AsNumber()
  @IsInt()
  @Min(0)
  offset?: number;
}
