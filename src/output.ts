/** A value as one line of text. */
function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return value.toString();
  }
  return JSON.stringify(value) ?? '';
}

/** Rows as an aligned text table; long cells are cut at 60 characters. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const widths = columns.map((column) =>
    Math.min(60, Math.max(column.length, ...rows.map((row) => text(row[column]).length))),
  );
  const fit = (cell: string, width: number) =>
    cell.length > width ? `${cell.slice(0, width - 1)}…` : cell.padEnd(width);
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => fit(cell, widths[i]))
      .join('  ')
      .trimEnd();
  return [
    line(columns),
    line(widths.map((width) => '-'.repeat(width))),
    ...rows.map((row) => line(columns.map((column) => text(row[column])))),
  ].join('\n');
}

/** A record as `key  value` lines. */
export function fields(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(([key, value]) => `${key.padEnd(width)}  ${text(value)}`.trimEnd())
    .join('\n');
}
