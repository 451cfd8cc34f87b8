import type { FailedRow } from 'nestjs-reliable-imports';
import type { CustomerRow } from './customer-data.processor';

/**
 * What a client is told about a row that needs a fix. The client gets the reasons written for people and
 * no stack or raw database message (index and table names); the operator finds the full reason stored.
 */
export interface FailedRowResponse {
  itemId: string;
  /** The row's line in the uploaded CSV (the header is line 1). */
  line: number | null;
  status: FailedRow['status'];
  reasons: string[];
  errorCode: string | null;
  row: CustomerRow;
  corrected: boolean;
}

/** Codes whose reasons the processor or the reader wrote for people. */
const READABLE = new Set(['VALIDATION_FAILED', 'MALFORMED_LINE']);

export function toFailedRowResponse(row: FailedRow<CustomerRow>): FailedRowResponse {
  const readable = row.status === 'skipped' || READABLE.has(row.errorCode ?? '');
  return {
    itemId: row.itemId,
    line: row.line,
    status: row.status,
    reasons: readable
      ? row.reasons
      : [
          `The server could not import this row (error ${row.errorCode ?? 'unknown'}). Its full reason is kept with the import for the operator.`,
        ],
    errorCode: row.errorCode,
    row: row.data,
    corrected: row.corrected,
  };
}
