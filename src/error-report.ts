import { BATCH_STATUS, ReliableImportsError, type BatchStatus } from '../lib';
import { isEndedBatch } from '../lib/statuses';
import { codeOf, isInstance, messageOf, toError } from '../lib/utils/error-details.util';
import { isConnectionLoss } from '../lib/utils/transient-error.util';
import { cliMessages } from './cli-messages';
import { CliError, EXIT } from './cli-errors';

/** What the tool was run with, for hints that give a command to run next. */
export interface RunContext {
  /** The `--module` spec in use (from the flag or RELIABLE_IMPORTS_MODULE). */
  module?: string;
}

/** An error as the tool reports it: stable code, message, the fix in the tool's terms, exit status. */
export interface ErrorReport {
  code: string;
  message: string;
  hint?: string;
  status: number;
}

/** The runs that stopped with nothing lost: the same batch goes on where it stopped. */
const INTERRUPTED = new Set(['PROCESSING_INTERRUPTED', 'PROCESSING_STOPPED', 'LEASE_LOST']);

/** SQLSTATE of a table that does not exist: the migrations were not run on this database. */
const UNDEFINED_TABLE = '42P01';

/** Code of a connection lost outside processing (a `list` while the server restarts). */
export const DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE';

const quoted = (value: string): string =>
  /^[\w./#:@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;

/** A command line of the tool, with the `--module` in use (processing commands need it). */
export function commandLine(context: RunContext, ...args: string[]): string {
  const module = context.module ? quoted(context.module) : cliMessages.modulePlaceholder();
  return ['reliable-imports', '--module', module, ...args].join(' ');
}

/**
 * Hints by error code: the fix, in the tool's own terms, that the error's message cannot know. Keyed by
 * code only (the module's codes, the tool's, or a SQLSTATE), never by message text, which may change.
 */
const HINTS: Record<string, (error: Error, context: RunContext) => string | undefined> = {
  UNKNOWN_BATCH_TYPE: (error) =>
    (error as ReliableImportsError).context.knownTypes?.length === 0
      ? cliMessages.hintModule()
      : undefined,
  [UNDEFINED_TABLE]: () => cliMessages.hintMigrate(),
  // The library's message names the API; the tool's commands for the same way on.
  BATCH_STATUS_CONFLICT: (error, context) => hintByStatus(error, context),
  BATCH_NOT_REPROCESSABLE: (error, context) => hintByStatus(error, context),
  ...Object.fromEntries(
    [...INTERRUPTED].map((code) => [
      code,
      (error: Error, context: RunContext) => {
        const batchId = (error as ReliableImportsError).context.batchId;
        return batchId
          ? cliMessages.hintGoOn({ command: commandLine(context, 'process', batchId) })
          : undefined;
      },
    ]),
  ),
};

/** What to run for a batch a command was refused on because of its status (paused, waiting, ended). */
function hintByStatus(error: Error, context: RunContext): string | undefined {
  const batchId = (error as ReliableImportsError).context.batchId;
  const status = (error as { status?: unknown }).status;
  if (!batchId || typeof status !== 'string') return undefined;
  const run = (...args: string[]) => `"${commandLine(context, ...args, batchId)}"`;
  if (status === BATCH_STATUS.paused) {
    return cliMessages.hintPaused({ resume: run('resume'), cancel: run('cancel') });
  }
  if (status === BATCH_STATUS.awaitingApproval) {
    return cliMessages.hintWaiting({ approve: run('approve'), reject: run('reject') });
  }
  if (isEndedBatch(status as BatchStatus)) {
    return cliMessages.hintEnded({ reprocess: run('reprocess') });
  }
  return cliMessages.hintRunning({ process: run('process'), cancel: run('cancel') });
}

/** The code of anything thrown: the module's or the tool's code, else the driver's, else UNEXPECTED. */
function codeOfError(error: Error): string {
  if (isInstance(error, ReliableImportsError) || isInstance(error, CliError)) return error.code;
  if (isConnectionLoss(error)) return DATABASE_UNAVAILABLE;
  return codeOf(error) ?? 'UNEXPECTED';
}

function statusOf(error: Error, code: string): number {
  if (isInstance(error, CliError)) return error.exitStatus;
  if (INTERRUPTED.has(code) || code === DATABASE_UNAVAILABLE) return EXIT.interrupted;
  // The module's other errors are all about the input: a wrong id, type, option, correction.
  if (isInstance(error, ReliableImportsError) || code === UNDEFINED_TABLE) return EXIT.usage;
  return EXIT.itemsFailed;
}

/** How the tool reports `thrown`: its code, message, hint and exit status. */
export function reportError(thrown: unknown, context: RunContext): ErrorReport {
  const error = toError(thrown);
  const code = codeOfError(error);
  const hint = HINTS[code]?.(error, context);
  return {
    code,
    message: messageOf(error),
    ...(hint ? { hint } : {}),
    status: statusOf(error, code),
  };
}
