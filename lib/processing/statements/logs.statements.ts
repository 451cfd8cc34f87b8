import type { Statement } from './statement';

/**
 * The head of every insert into the audit log. Statements that record an outcome write its entries in the
 * same statement (`INSERT_LOGS SELECT … FROM logRecordset(…)`), so that logs cost no round trip of their own.
 */
export const INSERT_LOGS = `INSERT INTO "import_logs" ("batch_id", "item_id", "level", "message", "details", "created_at")`;

/**
 * The entries of a JSON array (`l`), as `logEntryJson` encodes each: `expression` is the parameter or
 * column that holds the array.
 */
export function logRecordset(expression: string): string {
  return `jsonb_to_recordset(${expression}::jsonb) AS l("level" text, "message" text, "details" jsonb, "created_at" timestamptz)`;
}

/** Writes entries (a JSON array of `logEntryJson`) of batch `batchId`, tied to `itemId` or to no item. */
export function insertLogs(args: {
  batchId: string;
  itemId: string | null;
  entries: string;
}): Statement {
  return {
    text: `
    ${INSERT_LOGS}
    SELECT $1, $2, l."level", l."message", l."details", l."created_at"
    FROM ${logRecordset('$3')}`,
    values: [args.batchId, args.itemId, args.entries],
  };
}
