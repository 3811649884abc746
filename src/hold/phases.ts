/**
 * Where a freeze spends its time, phase by phase, from the caller's call to the handle:
 * only when a profiler asks (the benchmark), so that an ordinary freeze reads no clock for it.
 */
/** @internal */
export class PhaseClock {
  readonly #phases: Record<string, number> = {};
  readonly #profile: { started: number; report: (phases: Record<string, number>) => void } | undefined;
  #last: number;

  constructor(profile: { started: number; report: (phases: Record<string, number>) => void } | undefined) {
    this.#profile = profile;
    this.#last = profile?.started ?? 0;
  }

  /** Charges the time since the last mark to `name`. */
  readonly mark = (name: string): void => {
    if (!this.#profile) return;
    const now = performance.now();
    this.#phases[name] = (this.#phases[name] ?? 0) + (now - this.#last);
    this.#last = now;
  };

  /** Hands the phases to the profiler. */
  report(): void {
    try {
      this.#profile?.report({ ...this.#phases });
    } catch {
      // a profiler's own failure is not the freeze's
    }
  }
}
