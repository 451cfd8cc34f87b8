import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import { DatabaseAdapter } from '../processing/database-adapter';
import { rowsWaitingByType } from '../processing/statements/progress.statements';
import {
  loadOpenTelemetry,
  type OpenTelemetryApi,
  type OtelMeter,
  type OtelObservableCallback,
  type OtelObservableGauge,
} from './opentelemetry-api';
import { RunTelemetry, runTelemetryOf, type TelemetryInstruments } from './run-telemetry';
import type { TelemetrySinks } from './run-telemetry';
import { RELIABLE_IMPORTS_TELEMETRY } from './telemetry-names';
import { captureTraceContext, NO_CREATORS, type StoredCreators } from './trace-context';

const {
  metrics: METRIC,
  attributes: ATTR,
  system: SYSTEM,
  scope: SCOPE,
} = RELIABLE_IMPORTS_TELEMETRY;

/** The buckets the semantic conventions advise for durations in seconds. */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/**
 * The module's telemetry, through `@opentelemetry/api` only: nothing when the application does not have
 * it installed, and the API's no-op providers (next to nothing) when no SDK is registered. Spans go to the
 * global tracer provider (which the API lets an SDK register later); instruments are made here, when the
 * module starts, from the global meter provider, so a metrics SDK must be registered before the
 * application is created (as OpenTelemetry's setup asks anyway).
 */
@Injectable()
export class ImportTelemetry implements OnModuleDestroy {
  private readonly sinks: TelemetrySinks | null;
  /** The batch types the gauge has reported, to report 0 once nothing of theirs waits. */
  private readonly typesSeen = new Set<string>();
  private gauge: { instrument: OtelObservableGauge; callback: OtelObservableCallback } | null =
    null;

  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {
    const api = loadOpenTelemetry();
    this.sinks = api ? this.sinksOf(api) : null;
  }

  /**
   * The telemetry of a run of `batch` (its span starts now, as a child of the active context, linked to
   * the spans that created the batch and its parent when `creators` names them).
   */
  startRun(
    batch: ImportBatch,
    workerId: string,
    creators: StoredCreators = NO_CREATORS,
  ): RunTelemetry {
    return runTelemetryOf(this.sinks, batch, workerId, creators);
  }

  /**
   * The trace context of the span active in the caller, as JSON text to store with a batch it creates;
   * null when no span is active, without `@opentelemetry/api`, or when no propagator of W3C trace context
   * is registered.
   */
  traceContextToStore(): string | null {
    if (this.sinks === null) return null;
    const stored = captureTraceContext(this.sinks.api);
    return stored === null ? null : JSON.stringify(stored);
  }

  onModuleDestroy(): void {
    // The callback reads the database, which the application closes after this.
    this.gauge?.instrument.removeCallback(this.gauge.callback);
    this.gauge = null;
  }

  private sinksOf(api: OpenTelemetryApi): TelemetrySinks | null {
    try {
      const meter = api.metrics.getMeter(SCOPE);
      const instruments = this.instrumentsOf(meter);
      // No metrics SDK registered: the instruments are the API's no-op constants, not worth a call.
      const noop = api.createNoopMeter?.().createCounter(METRIC.rowsProcessed);
      if (noop !== instruments.rowsProcessed) this.observeWaitingRows(meter);
      return {
        api,
        tracer: api.trace.getTracer(SCOPE),
        instruments: noop === instruments.rowsProcessed ? null : instruments,
      };
    } catch {
      // An API too old or too odd to use: the module works without telemetry rather than not at all.
      return null;
    }
  }

  private instrumentsOf(meter: OtelMeter): TelemetryInstruments {
    const duration = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      });
    return {
      rowsProcessed: meter.createCounter(METRIC.rowsProcessed, {
        description: 'Rows whose outcome a run recorded (completed, failed or skipped).',
        unit: '{row}',
      }),
      rowsRetried: meter.createCounter(METRIC.rowsRetried, {
        description: 'Attempts at a row that failed in a way that passes, and were tried again.',
        unit: '{attempt}',
      }),
      processDuration: duration(METRIC.processDuration, 'One attempt at one row.'),
      claimDuration: duration(METRIC.claimDuration, 'One claim of rows by a lane of a run.'),
      rowsClaimed: meter.createCounter(METRIC.rowsClaimed, {
        description: 'Rows claimed by runs.',
        unit: '{row}',
      }),
      leaseExpirations: meter.createCounter(METRIC.leaseExpirations, {
        description: 'Leases this process held that ran out before it was done.',
        unit: '{lease}',
      }),
      takeovers: meter.createCounter(METRIC.takeovers, {
        description: "Expired leases of other runs' batches and rows that this process took over.",
        unit: '{lease}',
      }),
    };
  }

  /** Registers the gauge of rows waiting, which reads the database only when the SDK collects. */
  private observeWaitingRows(meter: OtelMeter): void {
    const waiting = meter.createObservableGauge(METRIC.rowsWaiting, {
      description: 'Rows without an outcome in batches that may still run them (database-wide).',
      unit: '{row}',
    });
    const callback: OtelObservableCallback = (result) => this.observeWaiting(result);
    waiting.addCallback(callback);
    this.gauge = { instrument: waiting, callback };
  }

  /** The gauge's reading: one statement on the open batches and their progress counters. */
  private async observeWaiting(result: {
    observe(value: number, attributes?: Record<string, string>): void;
  }): Promise<void> {
    let rows: Array<{ batch_type: string; waiting: string | number }>;
    try {
      rows = await this.database.run(rowsWaitingByType());
    } catch {
      // A collection while the database is away reports nothing, rather than fail the export.
      return;
    }
    // A type whose batches have all ended is read as 0, not left at its last value.
    const waiting = new Map<string, number>([...this.typesSeen].map((type) => [type, 0]));
    for (const row of rows) waiting.set(row.batch_type, Number(row.waiting));
    for (const [type, count] of waiting) {
      this.typesSeen.add(type);
      result.observe(count, { [ATTR.system]: SYSTEM, [ATTR.destination]: type });
    }
  }
}
