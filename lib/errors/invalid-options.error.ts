import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** The options given to `forRoot`/`forRootAsync` are invalid; the message lists every problem. */
export class InvalidOptionsError extends ReliableImportsError {
  constructor(readonly problems: readonly string[]) {
    super('INVALID_OPTIONS', messages.invalidOptions(problems));
  }
}
