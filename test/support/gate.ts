/**
 * A gate a test opens by hand: whoever `pass`es waits until `release`. `entered` resolves at the first
 * pass, for a test that awaits it; `passes` counts them, for a test that polls.
 */
export class Gate {
  passes = 0;
  private open!: () => void;
  private reached!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  readonly entered = new Promise<void>((resolve) => (this.reached = resolve));

  /** Waits at the gate until it is released. */
  pass(): Promise<void> {
    this.passes++;
    this.reached();
    return this.opened;
  }

  /** Lets every waiting and later pass through. */
  release(): void {
    this.open();
  }
}
