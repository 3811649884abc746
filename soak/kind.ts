/** What every soak trial kind is: runs, each checked from outside, with figures. */
export interface Outcome {
  violations: string[];
  /** Figures of this run (ms; one value, or one per command), aggregated per kind as p50/p90/max. */
  figures: Record<string, number | number[]>;
  /** Set when the run could not take place here (a cgroup hierarchy not mounted): the kind's row says so. */
  skipped?: boolean;
}

export interface Kind {
  name: string;
  what: string;
  runs: number;
  needsRoot?: boolean;
  run(index: number): Promise<Outcome>;
  /** Checks after all runs (leftovers the runs cannot see). */
  finally?: () => Promise<string[]>;
}

export const random = (max: number) => Math.floor(Math.random() * max);
