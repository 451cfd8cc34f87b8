/**
 * The two rules that make a failures export safe to open in a spreadsheet and to read back: meta columns
 * that cannot collide with data columns, and cells that a spreadsheet would run as formulas.
 */

/** Names of the meta columns of a failures export, given its data columns. */
export interface MetaColumnNames {
  itemId: string;
  line: string;
  status: string;
  reason: string;
}

/** `_item_id`, `_line`, `_status`, `_reason`, with one more `_` each until none is a data column's name. */
export function metaColumnNames(dataColumns: readonly string[]): MetaColumnNames {
  const taken = new Set(dataColumns);
  let prefix = '_';
  const names = (): MetaColumnNames => ({
    itemId: `${prefix}item_id`,
    line: `${prefix}line`,
    status: `${prefix}status`,
    reason: `${prefix}reason`,
  });
  const collides = (): boolean => {
    const { itemId, line, status, reason } = names();
    return [itemId, line, status, reason].some((name) => taken.has(name));
  };
  while (collides()) prefix += '_';
  return names();
}

/** A cell a spreadsheet would read as a formula (CSV injection); a negative number is not one. */
const FORMULA = /^(?:[=+@\t\r]|-(?![\d.]))/;

/** The cell with a leading `'` when a spreadsheet would run it as a formula. */
export function protectCell(text: string): string {
  return FORMULA.test(text) ? `'${text}` : text;
}

/** The cell without the `'` that `protectCell` added. */
export function unprotectCell(text: string): string {
  return text.startsWith("'") && FORMULA.test(text.slice(1)) ? text.slice(1) : text;
}
