export { FreezeError, FreezeErrorCode } from './base/errors.js';
export {
  type FleetOptions,
  type FrozenFleet,
  freezeFleet,
  type HostHold,
  type HostThaw,
} from './fleet.js';
export { freezeCgroup, freezeDescendants, freezeTree } from './freeze.js';
export type {
  BreachPolicy,
  FreezeBackend,
  FrozenProcess,
  FrozenTree,
  HoldBreach,
  HoldEvent,
  IdentityMethod,
  ThawReason,
  WatchdogEvent,
} from './hold/frozen-tree.js';
export {
  type BackendChoice,
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  type FreezeOptions,
} from './hold/plan.js';
export { readTaskStates, type TaskState } from './kernel/procfs.js';
export { type ProcStat, parseStat } from './kernel/stat.js';
export {
  type ResumedProcess,
  type ThawedCgroup,
  type ThawTreeOptions,
  thawCgroup,
  thawTree,
} from './thaw.js';
export { type ListTreeOptions, listTree, type ProcessNode } from './tree/discovery.js';
export type { ProcessInfo } from './tree/process.js';
export {
  type ResolvedTarget,
  type ResolveTargetsOptions,
  resolveTargets,
  type TargetKind,
} from './tree/targets.js';
export { type WarmUpOptions, warmUp } from './warm-up.js';
