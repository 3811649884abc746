/** How one host's hold ended, as the fleet helper reports it from what the host said (or did not). */
import type { ThawedLine } from '../protocol/events.js';

/** How one host's hold ended. */
export interface HostThaw {
  host: string;
  /**
   * Whether the host's hold covered everything up to this thaw: it answered that the hold
   * stayed unbroken, and it was still holding when thaw() ended it. false when it broke, when
   * it ended before thaw() (its lease ran out, its tree exited, someone thawed it there), or
   * when the host did not answer (its session ended or went silent: its lease thaws it).
   */
  intact: boolean;
  /**
   * How it ended: 'stdin' (by this thaw), the host's own reason when it ended before
   * ('lease', 'exited', 'signal', 'request', or 'stdin' when its session closed by itself), or
   * 'unreachable' when the host did not answer.
   */
  reason: string;
  /** Whether the hold had ended before thaw() was called: then nothing after that was held there. */
  endedEarly: boolean;
  /** How many times the hold was found broken; null if the host did not answer. */
  breaches: number | null;
  /** How long the host held, from its last task confirmed stopped; null if it did not answer. */
  heldMs: number | null;
}

/** What a host said at the end (its thawed event, and whether thaw() had asked by then) as a HostThaw. */
export function hostThaw(
  host: string,
  settled: { event: ThawedLine | null; asked: boolean } | null,
): HostThaw {
  const event = settled?.event ?? null;
  if (event === null) {
    return {
      host,
      intact: false,
      reason: 'unreachable',
      endedEarly: !settled?.asked && settled !== null,
      breaches: null,
      heldMs: null,
    };
  }
  // Only this thaw ends a hold with 'stdin' once asked: any other reason (the lease, the tree
  // gone, a signal there) ended it first, even when its word arrived after the asking.
  const endedEarly = !settled?.asked || event.thawReason !== 'stdin';
  return {
    host,
    intact: Boolean(event.intact) && !endedEarly,
    reason: String(event.thawReason),
    endedEarly,
    breaches: (event.breaches ?? []).length,
    heldMs: Number(event.heldMs),
  };
}
