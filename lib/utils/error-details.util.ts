import type { ItemErrorDetails } from '../interfaces/import-item.interface';
import { messages } from '../reliable-imports.messages';
import { storableText, TEXT_LIMITS, textOf } from './storable-text.util';

/**
 * Reads a property of anything a processor threw, or undefined when reading it throws (a getter, a Proxy
 * trap, null): recording a failure must not fail on the error it records.
 */
export function readSafely(value: unknown, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** `value instanceof type`, false where the check itself throws (a revoked Proxy). */
export function isInstance<T>(
  value: unknown,
  type: abstract new (...args: never[]) => T,
): value is T {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/** Turns anything thrown into an Error, so that hooks and the log always get one. */
export function toError(thrown: unknown): Error {
  if (isInstance(thrown, Error)) return thrown;
  return new Error(
    typeof thrown === 'string' ? thrown : messages.nonErrorThrown({ text: textOf(thrown) }),
  );
}

/** The error's name, read without throwing. */
export function nameOf(error: Error): string {
  const name = readSafely(error, 'name');
  if (typeof name === 'string' && name !== '') return name;
  const constructorName = readSafely(readSafely(error, 'constructor'), 'name');
  return typeof constructorName === 'string' && constructorName !== '' ? constructorName : 'Error';
}

/** The error's message (its name when it has none), read without throwing; not yet made storable. */
export function messageOf(error: Error): string {
  const message = readSafely(error, 'message');
  if (message !== undefined && message !== null && message !== '') return textOf(message);
  return nameOf(error);
}

/** The SQLSTATE or the error's own code. TypeORM wraps driver errors in `QueryFailedError`. */
export function codeOf(error: Error): string | undefined {
  const code = readSafely(readSafely(error, 'driverError'), 'code') ?? readSafely(error, 'code');
  return typeof code === 'string' || typeof code === 'number' ? String(code) : undefined;
}

/** At most this many characters of validation reasons are kept in the details; the rest are counted. */
const REASONS_BUDGET = TEXT_LIMITS.details / 2;

/** Each reason made storable, the list cut once it grows past its share of the details. */
function storableReasons(reasons: readonly unknown[]): string[] {
  const kept: string[] = [];
  let size = 0;
  for (const reason of reasons) {
    const text = storableText(reason, TEXT_LIMITS.message).text;
    size += text.length;
    if (size > REASONS_BUDGET) {
      kept.push(messages.reasonsCut({ more: reasons.length - kept.length }));
      break;
    }
    kept.push(text);
  }
  return kept;
}

/**
 * What is stored about a failure, every field storable: the name, the code, validation reasons, the
 * original message (escaped) when it had to be changed to be stored, and the stack only when asked for.
 * A validation failure never has a stack: it is the data's fault, and the stack would say nothing.
 */
export function errorDetailsOf(error: Error, options: { stack: boolean }): ItemErrorDetails {
  try {
    const code = codeOf(error);
    const reasons = readSafely(error, 'reasons');
    const validation = Array.isArray(reasons);
    const message = storableText(messageOf(error), TEXT_LIMITS.message);
    const stack = options.stack && !validation ? readSafely(error, 'stack') : undefined;
    return {
      name: storableText(nameOf(error), 200).text,
      ...(code === undefined ? {} : { code: storableText(code, 200).text }),
      ...(validation ? { reasons: storableReasons(reasons as unknown[]) } : {}),
      ...(message.original === undefined ? {} : { originalMessage: message.original }),
      ...(typeof stack === 'string' ? { stack: storableText(stack, TEXT_LIMITS.stack).text } : {}),
    };
  } catch {
    // Only a hostile error gets here (a reasons array behind a revoked Proxy): describe it by its name.
    return { name: storableText(nameOf(error), 200).text };
  }
}
