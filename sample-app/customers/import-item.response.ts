import type { ImportItem } from 'nestjs-reliable-imports';
import type { CustomerRow } from './customer-data.processor';

/**
 * What a client is told about an item. The stored row stays as it is for the operator; the client gets the
 * reasons written for people and no stack (server paths) or raw database message (index and table names).
 */
export interface ImportItemResponse {
  itemId: string;
  /** The item's line in the uploaded CSV (the header is line 1). */
  line: number;
  status: ImportItem['status'];
  reasons: string[];
  /** What kind of failure it was, when the item failed. */
  error: { name: string; code?: string; reasons?: string[] } | null;
  row: CustomerRow;
  corrected: boolean;
}

export function toItemResponse(item: ImportItem<CustomerRow>): ImportItemResponse {
  const details = item.errorDetails;
  return {
    itemId: item.id,
    line: item.sourceLine ?? item.itemIndex + 2,
    status: item.status,
    reasons: reasonsOf(item),
    error: details
      ? {
          name: details.name,
          ...(details.code !== undefined ? { code: details.code } : {}),
          ...(details.reasons ? { reasons: details.reasons } : {}),
        }
      : null,
    row: item.correctedData ?? item.sourceData,
    corrected: item.correctedData !== null,
  };
}

function reasonsOf(item: ImportItem<CustomerRow>): string[] {
  // A skip reason and validateItem's reasons are the processor's words, written for people.
  if (item.status === 'skipped') return item.errorMessage ? [item.errorMessage] : [];
  if (item.status !== 'failed') return [];
  if (item.errorDetails?.reasons) return item.errorDetails.reasons;
  const code = item.errorDetails?.code ?? item.errorDetails?.name ?? 'unknown';
  return [
    `The server could not import this row (error ${code}). Its full reason is kept with the import for the operator.`,
  ];
}
