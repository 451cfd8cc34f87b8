import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import { codeOf, nameOf, toError } from '../utils/error-details.util';
import type {
  OpenTelemetryApi,
  OtelContext,
  OtelCounter,
  OtelHistogram,
  OtelLink,
  OtelSpan,
  OtelSpanContext,
  OtelTracer,
  TelemetryAttributes,
} from './opentelemetry-api';
import { RELIABLE_IMPORTS_TELEMETRY, ROW_OUTCOME, type RowOutcome } from './telemetry-names';
import { creatorLinks, type StoredCreators } from './trace-context';

const { attributes: ATTR, operations: OP, system: SYSTEM } = RELIABLE_IMPORTS_TELEMETRY;

/** The instruments a run records to; made once per module (`import-telemetry.ts`). */
export interface TelemetryInstruments {
  rowsProcessed: OtelCounter;
  rowsRetried: OtelCounter;
  processDuration: OtelHistogram;
  claimDuration: OtelHistogram;
  rowsClaimed: OtelCounter;
  leaseExpirations: OtelCounter;
  takeovers: OtelCounter;
}

/** What a run's telemetry is made of: each part null when there is nothing to record it to. */
export interface TelemetrySinks {
  api: OpenTelemetryApi;
  tracer: OtelTracer;
  /** Null when no metrics SDK is registered: the API's no-op instruments are not even called. */
  instruments: TelemetryInstruments | null;
}

/** Why an attempt failed, for `error.type` and `reliable_imports.error.code`. */
export interface AttemptFailure {
  error: Error;
  /** The code stored with the failure, when known; else read from the error. */
  code?: string | null;
}

/** One attempt at one row: its span (a child of the run's) and its duration. */
export interface RowAttempt {
  /** Runs `work` with the attempt's span active, so that the processor's own spans are its children. */
  within<T>(work: () => T): T;
  /** Ends the attempt with its outcome (only the first call counts). */
  end(outcome: RowOutcome, failure?: AttemptFailure): void;
}

/** An attempt nobody records: no span, no clock, no allocation. */
const UNRECORDED_ATTEMPT: RowAttempt = {
  within: (work) => work(),
  end: () => undefined,
};

/** Outcomes that are the row's, recorded in its row (the others are an attempt's only). */
const RECORDED: ReadonlySet<RowOutcome> = new Set([
  ROW_OUTCOME.completed,
  ROW_OUTCOME.failed,
  ROW_OUTCOME.skipped,
]);

/** What `error.type` says of a failure: its code, else its name; cut, since it is a metric's attribute. */
export function errorTypeOf(failure: AttemptFailure): string {
  const type = failure.code ?? codeOf(failure.error) ?? nameOf(failure.error);
  return type.length > 100 ? type.slice(0, 100) : type;
}

/** The time, in seconds, on a monotonic clock. */
function seconds(): number {
  return performance.now() / 1000;
}

/**
 * The telemetry of one processing run: its span (`run <batch type>`), the spans of its row attempts
 * (children of it), and what it records to the module's instruments. When the run's span is not recorded
 * (no tracing SDK, or sampled out) no row span is made either, as parent-based sampling (the SDK's
 * default) would decide; when no metrics SDK is registered, nothing is timed. With neither, an attempt is
 * a shared constant: the hot path pays one call.
 */
export class RunTelemetry {
  /** For runs that record nothing: dry runs, and apps without `@opentelemetry/api`. */
  static readonly off = new RunTelemetry(null, null, '', '', '');

  private readonly span: OtelSpan | null;
  private readonly context: OtelContext | null;
  private readonly metricAttributes: TelemetryAttributes;
  /** Metric attributes by outcome, made once per run. */
  private readonly byOutcome = new Map<string, TelemetryAttributes>();
  private recorded = 0;
  private ended = false;

  constructor(
    private readonly sinks: TelemetrySinks | null,
    private readonly instruments: TelemetryInstruments | null,
    private readonly batchType: string,
    private readonly batchId: string,
    workerId: string,
    parentBatchId: string | null = null,
    /** Links made with the span (for samplers that read them): to the spans that created the batch. */
    links: OtelLink[] = [],
  ) {
    this.metricAttributes = { [ATTR.system]: SYSTEM, [ATTR.destination]: batchType };
    const span =
      sinks?.tracer.startSpan(
        `${OP.run} ${batchType}`,
        {
          kind: sinks.api.SpanKind.INTERNAL,
          attributes: {
            ...this.metricAttributes,
            [ATTR.operationName]: OP.run,
            [ATTR.batchId]: batchId,
            [ATTR.clientId]: workerId,
            ...(parentBatchId === null ? {} : { [ATTR.parentBatchId]: parentBatchId }),
          },
          ...(links.length === 0 ? {} : { links }),
        },
        sinks.api.context.active(),
      ) ?? null;
    if (span !== null && sinks !== null && span.isRecording()) {
      this.span = span;
      this.context = sinks.api.trace.setSpan(sinks.api.context.active(), span);
    } else {
      // A span that is not recorded still has to end (a sampler's bookkeeping may wait for it).
      span?.end();
      this.span = null;
      this.context = null;
    }
  }

  /** The run span's identity, for a link to it; null when it is not recorded. */
  get spanContext(): OtelSpanContext | null {
    return this.span?.spanContext() ?? null;
  }

  /** Runs `work` with the run's span active, so that whatever the run and its hooks do is its child. */
  within<T>(work: () => T): T {
    return this.context === null || this.sinks === null
      ? work()
      : this.sinks.api.context.with(this.context, work);
  }

  /** What the run found when it took the batch: its role, and whose run it took over or joined. */
  took(role: 'owner' | 'helper', holder: string | null, tookOver: boolean): void {
    if (tookOver) this.instruments?.takeovers.add(1, this.scoped('batch'));
    if (this.span === null) return;
    this.span.setAttribute(ATTR.role, role);
    this.span.setAttribute(ATTR.tookOver, tookOver);
    if (holder !== null) this.span.setAttribute(ATTR.holder, holder);
  }

  /** Links the run's span to another run's (a helper to the run of this process that holds the batch). */
  linkTo(other: OtelSpanContext | null, role: string): void {
    if (other !== null) this.span?.addLink?.({ context: other, attributes: { [ATTR.role]: role } });
  }

  /** Starts one attempt at a row. */
  startAttempt(item: ImportItem<object>, attempt: number): RowAttempt {
    if (this.span === null && this.instruments === null) return UNRECORDED_ATTEMPT;
    return new TracedAttempt(this, this.rowSpan(item, attempt), this.instruments ? seconds() : 0);
  }

  /** The start of a claim, to hand to `claimed`; 0 when nothing times it. */
  claimStarted(): number {
    return this.instruments === null ? 0 : seconds();
  }

  /**
   * A claim returned `count` rows; `expired` of them were held by a run whose lease had run out (taken
   * over).
   */
  claimed(started: number, count: number, expired: number): void {
    const { instruments } = this;
    if (instruments === null) return;
    const attributes = this.cached('claim', () => ({
      ...this.metricAttributes,
      [ATTR.operationName]: OP.claim,
      [ATTR.operationType]: 'receive',
    }));
    instruments.claimDuration.record(seconds() - started, attributes);
    if (count > 0) instruments.rowsClaimed.add(count, attributes);
    if (expired > 0) instruments.takeovers.add(expired, this.scoped('row'));
  }

  /** A lease this run held ran out before it was done: the batch's, or a row's claim. */
  leaseExpired(scope: 'batch' | 'row'): void {
    this.instruments?.leaseExpirations.add(1, this.scoped(scope));
  }

  /** A row's outcome was recorded (by an attempt, or by a chunk's timed-out row). */
  rowRecorded(outcome: RowOutcome): void {
    if (!RECORDED.has(outcome)) return;
    this.recorded++;
    this.instruments?.rowsProcessed.add(
      1,
      this.cached(outcome, () => ({ ...this.metricAttributes, [ATTR.outcome]: outcome })),
    );
  }

  /** Ends the run's span with how the run ended; an error the run threw marks it failed. */
  end(ending: string, error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (this.span === null || this.sinks === null) return;
    this.span.setAttribute(ATTR.ending, ending);
    this.span.setAttribute(ATTR.messageCount, this.recorded);
    if (error !== undefined) {
      this.span.setAttribute(ATTR.errorType, errorTypeOf({ error: toError(error) }));
      this.span.setStatus({ code: this.sinks.api.SpanStatusCode.ERROR });
    }
    this.span.end();
  }

  /** @internal for `TracedAttempt` */
  finishAttempt(
    span: OtelSpan | null,
    started: number,
    outcome: RowOutcome,
    failure: AttemptFailure | undefined,
  ): void {
    const errorType = failure && errorTypeOf(failure);
    const { instruments } = this;
    if (instruments !== null) {
      const attributes =
        errorType === undefined
          ? this.cached(`process:${outcome}`, () => this.processAttributes(outcome))
          : { ...this.processAttributes(outcome), [ATTR.errorType]: errorType };
      instruments.processDuration.record(seconds() - started, attributes);
      if (outcome === ROW_OUTCOME.retried) {
        instruments.rowsRetried.add(1, { ...this.metricAttributes, [ATTR.errorType]: errorType! });
      }
    }
    if (outcome === ROW_OUTCOME.lost) this.leaseExpired('row');
    this.rowRecorded(outcome);
    if (span === null || this.sinks === null) return;
    span.setAttribute(ATTR.outcome, outcome);
    if (failure !== undefined) {
      span.setAttribute(ATTR.errorType, errorType!);
      const code = failure.code ?? codeOf(failure.error);
      if (code !== undefined && code !== null) span.setAttribute(ATTR.errorCode, code);
      span.setStatus({ code: this.sinks.api.SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** @internal for `TracedAttempt` */
  activate<T>(span: OtelSpan, work: () => T): T {
    const { api } = this.sinks!;
    return api.context.with(api.trace.setSpan(this.context!, span), work);
  }

  private rowSpan(item: ImportItem<object>, attempt: number): OtelSpan | null {
    if (this.span === null || this.sinks === null) return null;
    return this.sinks.tracer.startSpan(
      `${OP.process} ${this.batchType}`,
      {
        kind: this.sinks.api.SpanKind.CONSUMER,
        attributes: {
          ...this.metricAttributes,
          [ATTR.operationName]: OP.process,
          [ATTR.operationType]: OP.process,
          [ATTR.batchId]: this.batchId,
          [ATTR.messageId]: item.id,
          [ATTR.rowIndex]: item.itemIndex,
          [ATTR.attempt]: attempt,
        },
      },
      this.context!,
    );
  }

  private processAttributes(outcome: RowOutcome): TelemetryAttributes {
    return { ...this.metricAttributes, [ATTR.operationName]: OP.process, [ATTR.outcome]: outcome };
  }

  private scoped(scope: 'batch' | 'row'): TelemetryAttributes {
    return this.cached(`lease:${scope}`, () => ({
      ...this.metricAttributes,
      [ATTR.leaseScope]: scope,
    }));
  }

  /** Attributes made once per run and key. */
  private cached(key: string, make: () => TelemetryAttributes): TelemetryAttributes {
    let attributes = this.byOutcome.get(key);
    if (attributes === undefined) {
      attributes = make();
      this.byOutcome.set(key, attributes);
    }
    return attributes;
  }
}

/** An attempt that something records: a span, a duration, or both. */
class TracedAttempt implements RowAttempt {
  private ended = false;

  constructor(
    private readonly run: RunTelemetry,
    private readonly span: OtelSpan | null,
    private readonly started: number,
  ) {}

  within<T>(work: () => T): T {
    return this.span === null ? work() : this.run.activate(this.span, work);
  }

  end(outcome: RowOutcome, failure?: AttemptFailure): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.run.finishAttempt(this.span, this.started, outcome, failure);
    } catch {
      // OpenTelemetry's SDKs must not throw; one that does must not turn a committed row into a failure.
    }
  }
}

/**
 * The run's telemetry for `batch`, made by `ImportTelemetry.startRun`; `creators` are the trace contexts
 * stored with the batch and its parent, which the run's span links to. @internal
 */
export function runTelemetryOf(
  sinks: TelemetrySinks | null,
  batch: ImportBatch,
  workerId: string,
  creators: StoredCreators,
): RunTelemetry {
  if (sinks === null) return RunTelemetry.off;
  return new RunTelemetry(
    sinks,
    sinks.instruments,
    batch.batchType,
    batch.id,
    workerId,
    batch.parentBatchId,
    creatorLinks(sinks.api, batch, creators),
  );
}
