import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';

/** Pause, cancel and reject: an optional reason, stored with the batch and in its log. */
export class ReasonBody {
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  reason?: string;
}

/** Resume. */
export class ResumeBody {
  /** Every failed row goes again, not only the corrected ones. @default false */
  @IsOptional()
  @IsBoolean()
  retryFailed?: boolean;
}

/** Reprocess. */
export class ReprocessBody {
  /** @default true (see `ReprocessBatchOptions.failedItemsOnly`) */
  @IsOptional()
  @IsBoolean()
  failedItemsOnly?: boolean;

  /**
   * `false`: answer 202 with the child batch as soon as it is stored, and run it in the background
   * (follow it with `GET /batches/:id/stream`). @default true (answer with the summary when its run ends)
   */
  @IsOptional()
  @IsBoolean()
  wait?: boolean;
}
