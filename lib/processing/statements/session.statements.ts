import type { Statement } from './statement';

// The statements of the connections themselves: notifications and cancelling a statement in flight.

/** Starts listening on `channel` (a name of the module's, quoted as an identifier). */
export function listen(args: { channel: string }): Statement {
  return { text: `LISTEN ${quotedName(args.channel)}`, values: [] };
}

/** Stops listening on `channel`. */
export function unlisten(args: { channel: string }): Statement {
  return { text: `UNLISTEN ${quotedName(args.channel)}`, values: [] };
}

/** Sends `payload` on `channel`: the check that notifications reach the connection that listens. */
export function notifyProbe(args: { channel: string; payload: string }): Statement {
  return { text: 'SELECT pg_notify($1, $2)', values: [args.channel, args.payload] };
}

/** Cancels the statement that server process `pid` is running (one a given-up item left behind). */
export function cancelBackend(args: { pid: number }): Statement {
  return { text: 'SELECT pg_cancel_backend($1)', values: [args.pid] };
}

function quotedName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
