import { messages } from '../reliable-imports.messages';
import { parseJson } from '../utils/parse-json.util';
import { chunksOf, type ReaderInput } from './reader-input';
import { SourceRow } from './source-row';
import { utf8LineBlocks } from './utf8-line-blocks';

/** A non-blank line of a JSONL text, and its number. */
export interface JsonlLine {
  line: number;
  text: string;
}

/** The non-blank lines of a JSONL input, without their line endings (LF or CRLF). */
export async function* jsonlLines(input: ReaderInput): AsyncGenerator<JsonlLine> {
  for await (const { firstLine, text } of utf8LineBlocks(chunksOf(input))) {
    const lines = text.split('\n');
    // A block is whole lines: the text after its last line ending is empty.
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
      if (line.trim() !== '') yield { line: firstLine + i, text: line };
    }
  }
}

/** A line parsed as a JSON object, or why it is not one. */
export type JsonObjectLine =
  { object: Record<string, unknown>; problem: null } | { object: null; problem: string };

/**
 * Parses a line as a JSON object: no number loses a digit, and a key given twice with two values is
 * refused (see `parseJson`).
 */
export function parseJsonObject(text: string): JsonObjectLine {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (error) {
    return {
      object: null,
      problem: messages.invalidJsonLine({ reason: (error as Error).message }),
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { object: null, problem: messages.lineNotJsonObject() };
  }
  return { object: value as Record<string, unknown>, problem: null };
}

/**
 * Reads a JSONL file (one JSON object per line, LF or CRLF) as rows, streaming, each with its line number;
 * blank lines are skipped. Numbers keep every digit: one a double cannot hold exactly
 * (`12345678901234567891`) is kept as its text. A line that is not valid JSON, or not an object, is not
 * thrown: it is yielded with `malformed` set (the parse error and the line's text) and empty data, and
 * `createBatch` stores it as a failed row. Bytes that are not UTF-8 throw `InvalidSourceFileError` naming
 * their line; an input that fails makes the reading throw that error. The input is not destroyed when the
 * reading stops early (see `readCsv`).
 *
 * @throws InvalidSourceFileError (code `INVALID_SOURCE_FILE`, `context.line` the line at fault).
 */
export async function* readJsonl(
  input: ReaderInput,
): AsyncGenerator<SourceRow<Record<string, unknown>>> {
  for await (const { line, text } of jsonlLines(input)) {
    const parsed = parseJsonObject(text);
    yield parsed.problem === null
      ? new SourceRow(line, parsed.object)
      : new SourceRow(line, {}, { reason: parsed.problem, raw: text });
  }
}
