import { InvalidArgumentError } from 'commander';

/** A whole-number option's parser, refusing what is out of `min..max` with the range to use. */
export function range(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`give a whole number from ${min} to ${max}.`);
    }
    return number;
  };
}

export const wholeNumber = range(1, 1000);

export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('give a key that is not empty.');
  return value;
}

/** One character, `\t` for a tab; never a quote or a line break, which CSV keeps for itself. */
export function delimiter(value: string): string {
  const character = value === '\\t' ? '\t' : value;
  if ([...character].length !== 1 || /["\r\n]/.test(character)) {
    throw new InvalidArgumentError(
      `give one character other than a quote or a line break, such as ';' or '\\t' (got ${JSON.stringify(value)}).`,
    );
  }
  return character;
}
