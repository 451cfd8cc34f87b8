import * as api from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ImportBatch } from '../../lib';
import type { OpenTelemetryApi } from '../../lib/telemetry/opentelemetry-api';
import { RELIABLE_IMPORTS_TELEMETRY } from '../../lib/telemetry/telemetry-names';
import {
  captureTraceContext,
  creatorLinks,
  linkedSpanOf,
  parseTraceContext,
} from '../../lib/telemetry/trace-context';

const { attributes: A } = RELIABLE_IMPORTS_TELEMETRY;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;
const otel = api as unknown as OpenTelemetryApi;

/** `base` as a caller sees it in whose context the span `SPAN_ID` of `TRACE_ID` is active. */
function inSpan(base: OpenTelemetryApi): OpenTelemetryApi {
  const active = api.trace.setSpan(
    api.ROOT_CONTEXT,
    api.trace.wrapSpanContext({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: api.TraceFlags.SAMPLED,
    }),
  );
  return { ...base, context: { active: () => active, with: (_context, work) => work() } };
}

describe('parseTraceContext: a stored trace context, checked', () => {
  it.each<[string, unknown]>([
    ['a traceparent', { traceparent: VALID }],
    ['an unsampled one', { traceparent: `00-${TRACE_ID}-${SPAN_ID}-00` }],
    ['a later version with more fields', { traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-later` }],
  ])('keeps %s', (_case, value) => {
    expect(parseTraceContext(value)).toEqual(value);
  });

  it('keeps a tracestate beside it, and only the two of them (no baggage)', () => {
    expect(
      parseTraceContext({ traceparent: VALID, tracestate: 'a=1,b=2', baggage: 'email=x@y.z' }),
    ).toEqual({ traceparent: VALID, tracestate: 'a=1,b=2' });
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', VALID],
    ['a number', 42],
    ['an array', [VALID]],
    ['an empty object', {}],
    ['a traceparent that is no string', { traceparent: 7 }],
    ['garbage', { traceparent: 'garbage' }],
    ['uppercase hex', { traceparent: VALID.toUpperCase() }],
    ['version 00 with more fields', { traceparent: `${VALID}-more` }],
    ['version ff', { traceparent: `ff${VALID.slice(2)}` }],
    ['an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` }],
    ['an all-zero span id', { traceparent: `00-${TRACE_ID}-${'0'.repeat(16)}-01` }],
    ['a short trace id', { traceparent: `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01` }],
    ['spaces around it', { traceparent: ` ${VALID} ` }],
    ['a newline in it', { traceparent: `${VALID}\n` }],
    [
      'no end to a later version',
      { traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-${'x'.repeat(300)}` },
    ],
    ['another key', { Traceparent: VALID }],
    ['one from its prototype', Object.create({ traceparent: VALID }) as object],
  ])('refuses %s', (_case, value) => {
    expect(parseTraceContext(value)).toBeNull();
  });

  it.each<[string, unknown]>([
    ['that is no string', 5],
    ['of control characters', 'a=1\u0000'],
    ['of text beyond ASCII', 'a=é'],
    ['longer than 512 characters', `a=${'x'.repeat(511)}`],
    ['that is empty', ''],
  ])('drops a tracestate %s and keeps the traceparent', (_case, tracestate) => {
    expect(parseTraceContext({ traceparent: VALID, tracestate })).toEqual({ traceparent: VALID });
  });
});

describe('with the W3C propagator registered', () => {
  beforeAll(() => {
    api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    api.propagation.disable();
  });

  const batch = { id: 'child', parentBatchId: 'parent' } as ImportBatch;

  it('captures nothing with no span active', () => {
    expect(captureTraceContext(otel)).toBeNull();
  });

  it('names the span of a stored context, with its tracestate', () => {
    const linked = linkedSpanOf(otel, { traceparent: VALID, tracestate: 'vendor=abc' });
    expect(linked).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, isRemote: true });
    expect((linked as api.SpanContext).traceState?.get('vendor')).toBe('abc');
    expect(linkedSpanOf(otel, { traceparent: 'garbage' })).toBeNull();
  });

  it("links a run to its batch's creator and its parent's, once each, by batch id", () => {
    const parentCreator = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    expect(
      creatorLinks(otel, batch, {
        batch: { traceparent: VALID },
        parentBatch: { traceparent: parentCreator },
      }).map((link) => [link.context.spanId, link.attributes]),
    ).toEqual([
      [SPAN_ID, { [A.role]: 'creator', [A.batchId]: 'child' }],
      ['2'.repeat(16), { [A.role]: 'creator', [A.batchId]: 'parent' }],
    ]);
    // Created in the same span: one link.
    expect(
      creatorLinks(otel, batch, {
        batch: { traceparent: VALID },
        parentBatch: { traceparent: VALID },
      }),
    ).toHaveLength(1);
    expect(creatorLinks(otel, batch, { batch: 'junk', parentBatch: [1] })).toEqual([]);
  });

  it('does not link the span the run is a child of already', () => {
    const inCaller = inSpan(otel);
    expect(
      creatorLinks(inCaller, batch, { batch: { traceparent: VALID }, parentBatch: null }),
    ).toEqual([]);
    // And captures that span, for a batch created in it.
    expect(captureTraceContext(inCaller)).toEqual({ traceparent: VALID });
  });

  it('links nothing, and throws nothing, when the propagator throws', () => {
    const broken = {
      ...otel,
      propagation: {
        inject: () => {
          throw new Error('broken');
        },
        extract: () => {
          throw new Error('broken');
        },
      },
    };
    expect(
      creatorLinks(broken, batch, { batch: { traceparent: VALID }, parentBatch: null }),
    ).toEqual([]);
    expect(captureTraceContext(inSpan(broken))).toBeNull();
  });
});

describe('without a propagator registered', () => {
  it('captures and links nothing', () => {
    expect(captureTraceContext(inSpan(otel))).toBeNull();
    expect(linkedSpanOf(otel, { traceparent: VALID })).toBeNull();
  });
});
