import { MetricReader } from '@opentelemetry/sdk-metrics';

/** The SDK's reader of last resort: collects on demand (`collect()`), exports nowhere. */
export class TestMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
