/**
 * The part of `@opentelemetry/api` the module uses, typed here: the package is an optional peer, so neither
 * the code nor the published types of the library may name it (as `admin-openapi.ts` does for
 * `@nestjs/swagger`). Every member used exists since `@opentelemetry/api` 1.3; `addLink` and the
 * instruments' `advice` are newer, and used only when present.
 */

/** An attribute value, as the API takes it. */
export type TelemetryValue = string | number | boolean;

/** A set of attributes. */
export type TelemetryAttributes = Record<string, TelemetryValue>;

/** The API's opaque context. */
export type OtelContext = object;

/** The identity of a span. */
export interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** A span, as the module writes it. */
export interface OtelSpan {
  spanContext(): OtelSpanContext;
  setAttribute(key: string, value: TelemetryValue): this;
  setAttributes(attributes: TelemetryAttributes): this;
  setStatus(status: { code: number; message?: string }): this;
  addLink?(link: OtelLink): this;
  isRecording(): boolean;
  end(): void;
}

/** A link from a span to another, by the other's identity. */
export interface OtelLink {
  context: OtelSpanContext;
  attributes?: TelemetryAttributes;
}

/** A tracer. */
export interface OtelTracer {
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: TelemetryAttributes; links?: OtelLink[] },
    context?: OtelContext,
  ): OtelSpan;
}

/** A carrier of propagated context: header names and their values. */
export type OtelCarrier = Record<string, string>;

/** A counter. */
export interface OtelCounter {
  add(value: number, attributes?: TelemetryAttributes): void;
}

/** A histogram. */
export interface OtelHistogram {
  record(value: number, attributes?: TelemetryAttributes): void;
}

/** What an observable instrument's callback is given. */
export interface OtelObservableResult {
  observe(value: number, attributes?: TelemetryAttributes): void;
}

/** A callback of an observable instrument; the SDK calls it only when it collects. */
export type OtelObservableCallback = (result: OtelObservableResult) => void | Promise<void>;

/** An observable gauge. */
export interface OtelObservableGauge {
  addCallback(callback: OtelObservableCallback): void;
  removeCallback(callback: OtelObservableCallback): void;
}

/** An instrument's options. */
export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** A meter. */
export interface OtelMeter {
  createCounter(name: string, options?: OtelInstrumentOptions): OtelCounter;
  createHistogram(name: string, options?: OtelInstrumentOptions): OtelHistogram;
  createObservableGauge(name: string, options?: OtelInstrumentOptions): OtelObservableGauge;
}

/** The module's view of `require('@opentelemetry/api')`. */
export interface OpenTelemetryApi {
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
    /** The span of a context (a local one, or a remote parent's); undefined when it has none. */
    getSpan(context: OtelContext): OtelSpan | undefined;
    getSpanContext(context: OtelContext): OtelSpanContext | undefined;
  };
  /** The globally registered propagator (the SDK's default: W3C trace context and baggage). */
  propagation: {
    inject(context: OtelContext, carrier: OtelCarrier): void;
    extract(context: OtelContext, carrier: OtelCarrier): OtelContext;
  };
  /** The empty context, to extract a stored context into. */
  ROOT_CONTEXT: OtelContext;
  context: {
    active(): OtelContext;
    with<T>(context: OtelContext, fn: () => T): T;
  };
  metrics: {
    getMeter(name: string, version?: string): OtelMeter;
  };
  /** Present since 1.4: a meter whose instruments are the API's no-op constants. */
  createNoopMeter?: () => OtelMeter;
  SpanKind: { INTERNAL: number; CONSUMER: number };
  SpanStatusCode: { ERROR: number };
}

/** `@opentelemetry/api` when the app has it installed; `undefined` otherwise. */
export function loadOpenTelemetry(): OpenTelemetryApi | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@opentelemetry/api') as OpenTelemetryApi;
  } catch {
    return undefined;
  }
}
