/**
 * Renews a lease a few times per lease while a run works (or repeats any check of the run, such as whether
 * its batch was paused): `renew` is called every `everyMs` from `start()` until `stop()` (which resolves
 * once the call in flight, if any, has settled). A renewal still in flight is not overlapped by the next (a connection that hangs must not
 * pile up renewals); a failed one is reported and retried at the next tick, which the lease leaves room for.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | null = null;

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

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
  }

  private tick(): Promise<void> {
    if (this.renewing) return this.renewing;
    this.renewing = this.renew()
      .catch((error: unknown) => this.onFailure(error))
      .finally(() => (this.renewing = null));
    return this.renewing;
  }
}
