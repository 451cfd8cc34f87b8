/**
 * The trace context stored with a batch (`import_batches.trace_context`): what the application's
 * propagator writes for the span active where the batch is created, and, read back by whatever process
 * runs the batch, the span its run spans link to. Only `traceparent` and `tracestate` are kept: baggage
 * may carry anything, personal data included.
 *
 * A stored value is input like any other (a row may have been written by hand, by another tool, by a
 * later version): it is checked here before the propagator sees it, and a value that does not pass, or
 * anything the API throws, means no link, never a failed run.
 */
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { OpenTelemetryApi, OtelCarrier, OtelLink, OtelSpanContext } from './opentelemetry-api';
import { RELIABLE_IMPORTS_TELEMETRY } from './telemetry-names';

const { attributes: ATTR } = RELIABLE_IMPORTS_TELEMETRY;

/** A batch's trace context, by the names of W3C Trace Context's two headers. */
export interface StoredTraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The trace contexts stored with a batch and with the batch it reprocesses, as read: unchecked. */
export interface StoredCreators {
  batch: unknown;
  parentBatch: unknown;
}

/** A batch whose creators' contexts are not known: nothing to link to. */
export const NO_CREATORS: StoredCreators = { batch: null, parentBatch: null };

/**
 * `version-traceid-parentid-flags`, lowercase hex (W3C Trace Context): version `ff` is invalid, an
 * all-zero trace or parent id too; a version after `00` may carry more fields after the flags.
 */
const TRACEPARENT =
  /^(?!ff)([0-9a-f]{2})-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?$/;
/** A later version's fields are bounded too: nothing unbounded reaches the propagator. */
const TRACEPARENT_MAX = 256;
/** W3C asks propagators to carry at least 512 characters of `tracestate`; a longer one is dropped. */
const TRACESTATE_MAX = 512;
/** Printable ASCII: what a `tracestate` header is made of. */
const TRACESTATE = /^[ -~]+$/;
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/** Reads an own property only: a stored object's prototype is not its content. */
function own(value: object, key: string): unknown {
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * A stored trace context, checked: null unless `value` is an object with a well-formed `traceparent`.
 * A `tracestate` that is not well-formed is left out, and the `traceparent` kept.
 */
export function parseTraceContext(value: unknown): StoredTraceContext | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const traceparent = own(value, 'traceparent');
  if (typeof traceparent !== 'string' || traceparent.length > TRACEPARENT_MAX) return null;
  const match = TRACEPARENT.exec(traceparent);
  if (match === null || (match[1] === '00' && match[2] !== undefined)) return null;
  const tracestate = own(value, 'tracestate');
  return typeof tracestate === 'string' &&
    tracestate.length <= TRACESTATE_MAX &&
    TRACESTATE.test(tracestate)
    ? { traceparent, tracestate }
    : { traceparent };
}

/**
 * The trace context of the span active in the caller, as the registered propagator writes it; null when
 * no span is active, or the propagator writes no W3C trace context (none is registered, say).
 */
export function captureTraceContext(api: OpenTelemetryApi): StoredTraceContext | null {
  try {
    const active = api.context.active();
    if (api.trace.getSpan(active) === undefined) return null;
    const carrier: OtelCarrier = {};
    api.propagation.inject(active, carrier);
    return parseTraceContext(carrier);
  } catch {
    // A propagator that throws must not fail the creation of a batch.
    return null;
  }
}

/** The span a stored trace context names, through the registered propagator; null when there is none. */
export function linkedSpanOf(api: OpenTelemetryApi, stored: unknown): OtelSpanContext | null {
  const parsed = parseTraceContext(stored);
  if (parsed === null) return null;
  const carrier: OtelCarrier = { traceparent: parsed.traceparent };
  if (parsed.tracestate !== undefined) carrier.tracestate = parsed.tracestate;
  const spanContext = api.trace.getSpanContext(api.propagation.extract(api.ROOT_CONTEXT, carrier));
  return spanContext !== undefined &&
    typeof spanContext.traceId === 'string' &&
    typeof spanContext.spanId === 'string' &&
    TRACE_ID.test(spanContext.traceId) &&
    SPAN_ID.test(spanContext.spanId)
    ? spanContext
    : null;
}

const sameSpan = (a: OtelSpanContext, b: OtelSpanContext): boolean =>
  a.traceId === b.traceId && a.spanId === b.spanId;

/**
 * The links of a run span of `batch`: to the span that created it and, for a reprocess, to the span that
 * created the batch it reprocesses, each with the id of the batch it created. A span the run is a child of
 * already (a reprocess made and run in one call) is not linked as well.
 */
export function creatorLinks(
  api: OpenTelemetryApi,
  batch: ImportBatch,
  stored: StoredCreators,
): OtelLink[] {
  try {
    const parent = api.trace.getSpanContext(api.context.active());
    const links: OtelLink[] = [];
    const add = (value: unknown, batchId: string | null): void => {
      if (value === null || value === undefined || batchId === null) return;
      const creator = linkedSpanOf(api, value);
      if (creator === null || (parent !== undefined && sameSpan(parent, creator))) return;
      if (links.some((link) => sameSpan(link.context, creator))) return;
      links.push({
        context: creator,
        attributes: { [ATTR.role]: 'creator', [ATTR.batchId]: batchId },
      });
    };
    add(stored.batch, batch.id);
    add(stored.parentBatch, batch.parentBatchId);
    return links;
  } catch {
    // Whatever the API or the propagator makes of a stored value, a run goes on without its links.
    return [];
  }
}
