import { stringify } from 'csv-stringify/sync';
import { stringify as stringifyJson } from 'lossless-json';
import { Readable } from 'node:stream';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { FailedRow, RecoveryFileFormat } from '../interfaces/recovery.interface';
import { messages } from '../reliable-imports.messages';
import { cellText, metaColumnNames, parseExactly, protectCell } from '../readers/spreadsheet-cells';
import type { TreeReader } from './tree-reader';

/**
 * The unresolved rows of a tree as a file a user edits and gives back: CSV (meta columns, then the data
 * under the source's column names in its order) or JSON lines. Streamed a page at a time.
 */
export function failuresFile(
  reader: TreeReader,
  root: ImportBatch,
  format: RecoveryFileFormat,
): Readable {
  return Readable.from(format === 'csv' ? csvLines(reader, root) : jsonLines(reader, root), {
    objectMode: false,
  });
}

async function* csvLines(reader: TreeReader, root: ImportBatch): AsyncGenerator<string> {
  const columns = await reader.columns(root);
  const meta = metaColumnNames(columns);
  yield stringify([[meta.itemId, meta.line, meta.status, meta.reason, ...columns]]);
  for await (const page of reader.unresolvedPages(root.id, parseExactly)) {
    yield stringify(
      page.map((row) => [
        row.itemId,
        row.line === null ? '' : String(row.line),
        row.status,
        protectCell(reasonText(row)),
        ...columns.map((column) => protectCell(cellText(ownValue(dataOf(row), column)))),
      ]),
    );
  }
}

async function* jsonLines(reader: TreeReader, root: ImportBatch): AsyncGenerator<string> {
  const columns = await reader.columns(root);
  for await (const page of reader.unresolvedPages(root.id, parseExactly)) {
    yield page
      .map((row) => {
        const data = dataOf(row);
        // In the source's column order, which jsonb did not keep.
        const ordered: Record<string, unknown> = {};
        for (const column of columns) {
          // Own keys only, defined rather than assigned: a column named "__proto__" is data too.
          if (Object.hasOwn(data, column)) {
            Object.defineProperty(ordered, column, {
              value: data[column],
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
        }
        return `${stringifyJson({
          itemId: row.itemId,
          line: row.line,
          status: row.status,
          reasons: row.reasons,
          errorCode: row.errorCode,
          ...(row.rawLine !== null ? { rawLine: row.rawLine } : {}),
          data: ordered,
        })}\n`;
      })
      .join('');
  }
}

const dataOf = (row: FailedRow<unknown>): Record<string, unknown> =>
  row.data !== null && typeof row.data === 'object' ? (row.data as Record<string, unknown>) : {};

/** A row's own value of a column: not what its prototype has under that name ("__proto__", "toString"). */
const ownValue = (data: Record<string, unknown>, column: string): unknown =>
  Object.hasOwn(data, column) ? data[column] : undefined;

function reasonText(row: FailedRow<unknown>): string {
  return messages.failureReasons({ reasons: row.reasons, rawLine: row.rawLine });
}
