/** The statement with which the module checks, at start, that its tables are migrated. */

import type { Statement } from './statement';

/**
 * The columns of each of `tables`, found as the module's statements find them: they name tables without a
 * schema, so through the search_path, as `to_regclass` does (information_schema would need the schema
 * guessed, and shows only the columns the user has privileges on). A missing table has one row, with no
 * column.
 */
export function tableColumns(args: { tables: readonly string[] }): Statement {
  return {
    text: `
  SELECT t."name" AS "table", a."attname"::text AS "column"
  FROM unnest($1::text[]) AS t("name")
  LEFT JOIN pg_attribute a
    ON a."attrelid" = to_regclass(quote_ident(t."name")) AND a."attnum" > 0 AND NOT a."attisdropped"`,
    values: [args.tables],
  };
}
