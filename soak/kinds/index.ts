/** The registry of soak trial kinds, in the order they run and are listed in docs/reliability.md. */
import type { Kind } from '../kind.js';
import { badInput } from './bad-input.js';
import { cgroupBreach } from './cgroup-breach.js';
import { cgroupFault } from './cgroup-fault.js';
import { changingTree } from './changing-tree.js';
import { cpuBound } from './cpu-bound.js';
import { detachedHold } from './detached-hold.js';
import { edgeTree } from './edge-tree.js';
import { freezerKilled } from './freezer-killed.js';
import { holdBreach } from './hold-breach.js';
import { leaseThawedAtOnce } from './lease-thawed-at-once.js';
import { permission } from './permission.js';
import { pidReuse } from './pid-reuse.js';
import { registryAttack } from './registry-attack.js';
import { freezerCgroupKilled, freezerGroupKilled, watchdogKilledThenFreezer } from './safety-net-survives.js';
import { secondFreezeKilled } from './second-freeze-killed.js';
import { selfStoppingParent } from './self-stopping-parent.js';
import { stoppedBefore } from './stopped-before.js';
import { strayWatchdogSignals } from './stray-watchdog-signals.js';
import { treeExits } from './tree-exits.js';
import { twoFreezers } from './two-freezers.js';
import { twoFreezes } from './two-freezes.js';
import { watchdogThenFreezer } from './watchdog-then-freezer.js';

export const KINDS: Kind[] = [
  freezerKilled('library'),
  freezerKilled('cli'),
  watchdogThenFreezer('SIGKILL'),
  watchdogThenFreezer('SIGSTOP'),
  ...[0, 1, 2, 5, 10].map(watchdogKilledThenFreezer),
  freezerGroupKilled('process group'),
  freezerGroupKilled('session'),
  freezerCgroupKilled,
  strayWatchdogSignals,
  secondFreezeKilled,
  leaseThawedAtOnce,
  detachedHold('thaw <id>'),
  detachedHold('holder SIGKILL'),
  changingTree('forkstorm'),
  changingTree('churn'),
  pidReuse('during the freeze'),
  pidReuse('while frozen'),
  permission,
  registryAttack,
  cpuBound('own', 20),
  cpuBound('other', 20),
  cpuBound('own', 200),
  cpuBound('other', 200),
  edgeTree('tracer swallowing SIGSTOP', ['tracer'], 'TIMED_OUT'),
  edgeTree('zombie', ['zombie'], 'frozen'),
  edgeTree('vfork', ['vfork'], 'frozen'),
  edgeTree('main thread exited', ['leaderexit'], 'frozen'),
  edgeTree('hostile comm', ['comm', 'a) R (b\nx'], 'frozen'),
  edgeTree('1000 threads', ['tree', 1, 1000], 'frozen', 3),
  edgeTree('3000 processes', ['tree', 3000, 1], 'frozen', 2),
  stoppedBefore,
  twoFreezes,
  twoFreezers,
  treeExits,
  holdBreach('refreeze'),
  holdBreach('report'),
  selfStoppingParent,
  cgroupBreach('v2'),
  cgroupBreach('v1'),
  cgroupFault('v2', 'freezer killed'),
  cgroupFault('v1', 'freezer killed'),
  cgroupFault('v2', 'removed'),
  cgroupFault('v1', 'removed'),
  badInput,
];
