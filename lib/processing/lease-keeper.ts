/**
 * Renews a lease a few times per lease while a run works: `renew` is called every `everyMs` from `start()`
 * until `stop()`. A renewal still in flight is not overlapped by the next (a connection that hangs must not
 * pile up renewals); a failed one is reported and retried at the next tick, which the lease leaves room for.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly renew: () => Promise<void>,
    private readonly everyMs: number,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    // A run that is forgotten must not keep the process alive for its lease.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      await this.renew();
    } catch (error) {
      this.onFailure(error);
    } finally {
      this.renewing = false;
    }
  }
}
