/** treefreeze's signal path as a bench contender: freezeTree with its defaults (watchdog on, pidfd identity). */
import { freezeTree } from '../src/freeze.js';
import { type Contender, timeFreezeAndThaw } from './contender.js';

export const treefreezeContender: Contender = {
  name: 'treefreeze',
  async enter(root, pids) {
    return {
      freezeAndThaw: () => timeFreezeAndThaw('treefreeze', () => freezeTree(root), pids),
      close() {},
    };
  },
};
