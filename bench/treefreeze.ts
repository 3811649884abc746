/**
 * treefreeze's signal path as a bench contender: freezeTree with its defaults (watchdog on, pidfd
 * identity) but the backend, forced to signals: the cgroup v2 contender moves the tree into a cgroup
 * of its own, where the default would take the kernel's freezer and measure that instead.
 */
import { freezeTree } from '../src/freeze.js';
import { type Contender, timeFreezeAndThaw } from './contender.js';

export const treefreezeContender: Contender = {
  name: 'treefreeze',
  async enter(root, pids) {
    return {
      freezeAndThaw: () =>
        timeFreezeAndThaw('treefreeze', () => freezeTree(root, { backend: 'signal' }), pids),
      close() {},
    };
  },
};
