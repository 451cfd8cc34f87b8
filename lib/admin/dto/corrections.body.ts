import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsUUID,
  Min,
  ValidateNested,
} from 'class-validator';
import type { CorrectionMode } from '../../interfaces/recovery.interface';

const MODES: CorrectionMode[] = ['replace', 'merge'];

/** `PATCH /items/:itemId`: the row's corrected data. */
export class CorrectItemBody {
  /** Validated here; the route takes it from the body as sent (`SentBody`), with every key. */
  @IsObject()
  data!: Record<string, unknown>;

  /** @default 'replace' */
  @IsOptional()
  @IsIn(MODES)
  mode?: CorrectionMode;
}

/** One correction of a set: a row named by one of its item ids or by its source line. */
export class CorrectionEntry {
  @IsOptional()
  @IsUUID()
  itemId?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  line?: number;

  /** Validated here; the route takes it from the body as sent (`SentBody`), with every key. */
  @IsObject()
  data!: Record<string, unknown>;
}

/** `POST /batches/:id/corrections`: applied all or nothing. */
export class CorrectionsBody {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10_000)
  @ValidateNested({ each: true })
  @Type(() => CorrectionEntry)
  corrections!: CorrectionEntry[];

  /** @default 'replace' */
  @IsOptional()
  @IsIn(MODES)
  mode?: CorrectionMode;
}

/** `POST /batches/:id/corrections/file?mode=`: the body is the file. */
export class CorrectionsFileQuery {
  /** @default 'replace' */
  @IsOptional()
  @IsIn(MODES)
  mode?: CorrectionMode;
}
