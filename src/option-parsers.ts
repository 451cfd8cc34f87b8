import { InvalidArgumentError, Option } from 'commander';
import type { ErrorBudget } from '../lib';

import { cliMessages } from './cli-messages';

/** A whole-number option's parser, refusing what is out of `min..max` with the range to use. */
export function range(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(cliMessages.wholeNumberOption({ min, max }));
    }
    return number;
  };
}

export const wholeNumber = range(1, 1000);

/** The most rows a batch can count (an integer column): the top of `--max-failures`. */
export const MAX_ROWS = 2_147_483_647;

/** A share from 0 to 1 (`--max-failure-rate 0.1` is 10%). */
export function rate(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0 || number > 1) {
    throw new InvalidArgumentError(cliMessages.rateOption());
  }
  return number;
}

export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError(cliMessages.emptyKey());
  return value;
}

/** One character, `\t` for a tab; never a quote or a line break, which CSV keeps for itself. */
export function delimiter(value: string): string {
  const character = value === '\\t' ? '\t' : value;
  if ([...character].length !== 1 || /["\r\n]/.test(character)) {
    throw new InvalidArgumentError(cliMessages.badDelimiter({ given: value }));
  }
  return character;
}

/** `--max-failures`: the error budget's count, for the commands that process rows. */
export const maxFailuresOption = (): Option =>
  new Option(
    '--max-failures <n>',
    'error budget: pause the batch once more than n rows failed (0 pauses at the first)',
  ).argParser(range(0, MAX_ROWS));

/** `--max-failure-rate`: the error budget's share, for the commands that process rows. */
export const maxFailureRateOption = (): Option =>
  new Option(
    '--max-failure-rate <r>',
    'error budget: pause the batch once more than this share of the rows processed failed (0 to 1, ' +
      'e.g. 0.1), counted from the 100th row',
  ).argParser(rate);

/** The error budget a command was given, as a run option. */
export function budgetOf(options: ErrorBudget): ErrorBudget {
  return { maxFailures: options.maxFailures, maxFailureRate: options.maxFailureRate };
}
