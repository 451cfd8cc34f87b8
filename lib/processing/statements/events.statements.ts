import type { Statement } from './statement';

/** The LISTEN/NOTIFY channel on which the module's events cross to the other application instances. */
export const EVENTS_CHANNEL = 'reliable_imports_events';

/**
 * PostgreSQL refuses a notification whose payload has 8,000 bytes or more: an event's JSON stays under
 * this, with room to spare.
 */
export const MAX_EVENT_PAYLOAD_BYTES = 7_900;

const NOTIFY_EVENTS = `SELECT pg_notify('${EVENTS_CHANNEL}', p) FROM unnest($1::text[]) WITH ORDINALITY AS e(p, n) ORDER BY n`;

/**
 * Sends events (their JSON, in order) to the instances listening, in one statement: notifications of one
 * transaction are delivered in the order they were made, and those of transactions in commit order.
 */
export function notifyEvents(args: { payloads: readonly string[] }): Statement {
  return { text: NOTIFY_EVENTS, values: [args.payloads] };
}
