/**
 * Freezing what the command line names: one target is one freeze; several are held as one
 * (see hold/several.ts).
 */
import { freezeCgroup, freezeDescendants, freezeTree } from '../freeze.js';
import type { FrozenTree, HoldEvent } from '../hold/frozen-tree.js';
import {
  type FreezeOptions,
  type InternalFreezeOptions,
  internalKnobs,
  type RequiredOptions,
} from '../hold/plan.js';
import { holdInTurn } from '../hold/several.js';
import type { ResolvedTarget } from '../tree/targets.js';

/** The freeze options the command line always sets, and its own. */
export interface TargetFreezeOptions
  extends Pick<FreezeOptions, 'maxHoldMs'>,
    RequiredOptions<'backend' | 'timeoutMs' | 'watchdog' | 'onBreach' | 'checkIntervalMs'> {
  childrenOnly: boolean;
  exclude: number[];
  join: boolean;
}

/** `label`: how another freezer refused by this hold names it (its hold id, once registered). */
export function freezeTargets(
  targets: readonly ResolvedTarget[],
  options: TargetFreezeOptions,
  signal: AbortSignal,
  onHoldEvent: (event: HoldEvent) => void,
  label?: () => string,
): Promise<FrozenTree> {
  const freezeOptions: InternalFreezeOptions = {
    [internalKnobs]: { claimLabel: label },
    backend: options.backend,
    exclude: options.exclude,
    timeoutMs: options.timeoutMs,
    maxHoldMs: options.maxHoldMs,
    watchdog: options.watchdog,
    join: options.join,
    onBreach: options.onBreach,
    checkIntervalMs: options.checkIntervalMs,
    onHoldEvent,
    signal,
  };
  return holdInTurn(targets, (target) => {
    if (target.cgroup !== undefined) return freezeCgroup(target.cgroup, freezeOptions);
    const root = target.root as number;
    return options.childrenOnly ? freezeDescendants(root, freezeOptions) : freezeTree(root, freezeOptions);
  });
}
