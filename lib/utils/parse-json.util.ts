import { parse, splitNumber } from 'lossless-json';

/**
 * A JSON number as a JavaScript number when the number written back is the same value (`42`, `0.1`,
 * `1e3` → `1000`), or else its exact text as a string (`12345678901234567891`,
 * `0.1000000000000000055511151231257827`, `1e400`): a double would store other digits, unseen.
 */
function parseNumber(text: string): number | string {
  const value = Number(text);
  if (!Number.isFinite(value)) return text;
  const exact = splitNumber(text);
  const written = splitNumber(String(value));
  return exact.digits === written.digits &&
    exact.exponent === written.exponent &&
    exact.sign === written.sign
    ? value
    : text;
}

/**
 * Parses JSON text as `JSON.parse` does, except that no number loses a digit (see `parseNumber`) and an
 * object with the same key twice (with two values) is refused rather than keeping the last.
 *
 * @throws SyntaxError when the text is not valid JSON.
 */
export function parseJson(text: string): unknown {
  return parse(text, null, parseNumber);
}
