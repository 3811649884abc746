/**
 * Breaches of a hold: a frozen process ran again (someone sent SIGCONT, another freezer
 * thawed it) or a frozen cgroup was thawed, while treefreeze still held the tree. The log
 * records each episode once, from the moment it is noticed until every process of it is
 * stopped again (refrozen by treefreeze, or by someone else) or the hold ends.
 */
/** What a hold does when it is broken: stop the tree again, or only record it. */
export const BREACH_POLICIES = ['refreeze', 'report'] as const;
export type BreachPolicy = (typeof BREACH_POLICIES)[number];

export interface HoldBreach {
  /** 'resumed': processes of the tree ran again; 'cgroup-thawed': the frozen cgroup was thawed. */
  readonly kind: 'resumed' | 'cgroup-thawed';
  /** The processes that ran (for a cgroup: every process in it when it was noticed). */
  readonly pids: readonly number[];
  /** Processes that appeared in the tree while it ran (forked meanwhile). */
  readonly newPids: readonly number[];
  /** Date.now() of the last check that found the hold intact: the breach began after it. */
  readonly intactAt: number;
  /** Date.now() when it was noticed. */
  readonly detectedAt: number;
  /**
   * Date.now() when it ended: every process stopped again (or gone), or the hold ended.
   * null while it lasts. The tree ran for at most endedAt - intactAt.
   */
  readonly endedAt: number | null;
  /** Whether treefreeze itself stopped the tree again (policy 'refreeze'). */
  readonly refrozen: boolean;
  /** 'check': noticed while the tree was held; 'thaw': by the thaw's last look (never refrozen). */
  readonly foundBy: 'check' | 'thaw';
}

/** A breach as it happens: found, then ended. */
export type BreachEvent =
  | { readonly type: 'breach'; readonly breach: HoldBreach }
  | { readonly type: 'breach-ended'; readonly breach: HoldBreach };

type MutableBreach = { -readonly [K in keyof HoldBreach]: HoldBreach[K] } & {
  pids: number[];
  newPids: number[];
};

/** A running check of one hold. @internal */
export interface HoldCheck {
  /**
   * The hold is over: one last check, so that a resume in the last interval before the
   * thaw is recorded too (never refrozen), then no more checks and no refreeze in flight.
   */
  stop(): void;
}

/** @internal */
export class BreachLog {
  readonly breaches: HoldBreach[] = [];
  #open: MutableBreach | undefined;
  /** Date.now() of the last check that found the hold intact. */
  #intactAt = Date.now();
  readonly #emit: (event: BreachEvent) => void;

  constructor(emit: (event: BreachEvent) => void) {
    this.#emit = emit;
  }

  get intact(): boolean {
    return this.breaches.length === 0;
  }

  /** The episode in progress, if any. */
  get open(): HoldBreach | undefined {
    return this.#open;
  }

  /** A check found nothing wrong. */
  markIntact(): void {
    if (!this.#open) this.#intactAt = Date.now();
  }

  /** Records that these processes ran: a new episode, or more of the one in progress. */
  record(
    kind: HoldBreach['kind'],
    pids: readonly number[],
    foundBy: HoldBreach['foundBy'] = 'check',
  ): HoldBreach {
    const open = this.#open;
    if (open) {
      for (const pid of pids) if (!open.pids.includes(pid)) open.pids.push(pid);
      return open;
    }
    const breach: MutableBreach = {
      kind,
      pids: [...pids],
      newPids: [],
      intactAt: this.#intactAt,
      detectedAt: Date.now(),
      endedAt: null,
      refrozen: false,
      foundBy,
    };
    this.#open = breach;
    this.breaches.push(breach);
    this.#emit({ type: 'breach', breach });
    return breach;
  }

  /** Processes that appeared during the episode in progress. */
  addNew(pids: readonly number[]): void {
    const open = this.#open;
    if (!open) return;
    for (const pid of pids) if (!open.newPids.includes(pid)) open.newPids.push(pid);
  }

  /** The episode in progress is over: everything is stopped again, or the hold ended. */
  end(refrozen: boolean): void {
    const open = this.#open;
    if (!open) return;
    open.endedAt = Date.now();
    open.refrozen = refrozen;
    this.#open = undefined;
    this.#intactAt = open.endedAt;
    this.#emit({ type: 'breach-ended', breach: open });
  }
}
