import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** `POST /batches`: the processor that reads the file in the body. */
export class CreateBatchQuery {
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  batchType!: string;
}
