export { cgroupPids, findCgroupMounts, resolveCgroup } from './cgroup.js';
export { type ListTreeOptions, listTree, type ProcessNode } from './discovery.js';
export { FreezeError, FreezeErrorCode } from './errors.js';
export {
  type BackendChoice,
  DEFAULT_TIMEOUT_MS,
  type FreezeOptions,
  freezeCgroup,
  freezeDescendants,
  freezeTree,
} from './freeze.js';
export type { FreezeBackend, FrozenProcess, FrozenTree, IdentityMethod, ThawReason } from './frozen-tree.js';
export { readTaskStates, type TaskState } from './procfs.js';
export { type ProcStat, parseStat } from './stat.js';
export {
  type ResumedProcess,
  type ThawedCgroup,
  type ThawTreeOptions,
  thawCgroup,
  thawTree,
} from './thaw.js';
