import { messages } from '../../reliable-imports.messages';
import { ITEM_STATUS } from '../../statuses';

/**
 * A statement of the module and its parameters, side by side, so that no caller decides what `$3` is.
 * Every statement is a function of named arguments that returns one (graphile-worker's `src/sql/*.ts`),
 * and `DatabaseAdapter.run` runs it. The statements of a run build their text once, as a module constant,
 * and a call only assembles the values: they run for every item, and named prepared statements need texts
 * that never change.
 */
export interface Statement {
  text: string;
  values: unknown[];
  /**
   * Run as a named prepared statement (`DatabaseAdapter.run`): for the statements a run sends at every
   * row, whose text is a module constant.
   */
  prepared?: true;
}

/**
 * Fixed words (statuses, levels) written into a statement's text as a list of literals, so that the planner
 * sees them (a partial index on `status = 'pending'` matches a literal, not a parameter). Only for the
 * module's own constants, which are checked here to hold no quote: values from outside are parameters.
 */
export function sqlList(words: readonly string[]): string {
  return words.map(sqlWord).join(', ');
}

/** One fixed word as a literal; see `sqlList`. */
export function sqlWord(word: string): string {
  if (!/^[A-Za-z_]+$/.test(word)) throw new Error(messages.notAFixedWord({ word }));
  return `'${word}'`;
}

/**
 * `column` holds one of the item statuses `statuses`, written so that the planner can read it from the
 * indexes that hold those rows: pending rows and the rows neither pending nor completed have partial
 * indexes of their own (`IDX_import_batch_items_pending`, `IDX_import_batch_items_in_flight_or_unapplied`),
 * and a condition can be proved to fall in one only when it names that index's statuses alone, so the
 * pending status is an arm of its own (`IN` with both would be read by a scan of the batch).
 */
export function sqlItemStatusIn(column: string, statuses: readonly string[]): string {
  const pending = statuses.filter((status) => status === ITEM_STATUS.pending);
  const others = statuses.filter((status) => status !== ITEM_STATUS.pending);
  const arms = [
    ...pending.map((status) => `${column} = ${sqlWord(status)}`),
    ...(others.length > 0 ? [`${column} IN (${sqlList(others)})`] : []),
  ];
  if (arms.length === 0) return 'false';
  return arms.length === 1 ? arms[0] : `(${arms.join(' OR ')})`;
}

/**
 * Whether the batch `batch` (SQL, e.g. `$1`) has an item in one of `statuses` that meets `and` (SQL, when
 * given): per status, the first such item in item order, which that status's partial index answers. Not
 * `EXISTS`: PostgreSQL drops the ORDER BY of an `EXISTS` subquery, and on statistics gathered while the
 * batch was all pending it then expects an open row at once and scans the table, which reads every
 * batch's rows when none is left (at each poll of a run that waits for others, at each end of a run).
 */
export function someItemIn(batch: string, statuses: readonly string[], and?: string): string {
  if (statuses.length === 0) return 'false';
  const arms = statuses.map(
    (status) => `(SELECT "item_index" FROM "import_batch_items"
        WHERE "batch_id" = ${batch} AND "status" = ${sqlWord(status)}${and ? ` AND ${and}` : ''}
        ORDER BY "item_index" LIMIT 1) IS NOT NULL`,
  );
  return arms.length === 1 ? arms[0] : `(${arms.join(' OR ')})`;
}
