import { MAX_SOURCE_LINE } from '../reliable-imports.constants';

/** A line `source_line` can hold: a whole number from 1 that fits a PostgreSQL integer. */
export const isSourceLine = (line: unknown): line is number =>
  Number.isInteger(line) && (line as number) >= 1 && (line as number) <= MAX_SOURCE_LINE;
