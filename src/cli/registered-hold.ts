/** A command-line hold's entry in the registry (registry.ts), kept up to date while it holds. */
import type { FrozenTree } from '../backends/frozen-tree.js';
import { readProcessStat } from '../kernel/procfs.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { targetSummary } from './events.js';
import {
  clearOutcomeRequest,
  type HoldRecord,
  newHoldId,
  outcomeRequested,
  removeHold,
  writeHold,
} from './registry.js';

export interface RegisteredHold {
  readonly id: string;
  /** Rewrites the entry (a breach changed `intact`). */
  update(): void;
  /** The hold ended: keep the outcome for `thaw <id>` if it asked, else remove the entry. */
  end(outcome: { reason: string; heldMs: number; exitCode: number }): void;
}

export function registerHold(
  command: 'freeze' | 'run',
  targets: readonly ResolvedTarget[],
  frozen: FrozenTree,
  options: { detached: boolean; maxHoldMs?: number | undefined; forMs?: number | undefined },
): RegisteredHold {
  const id = newHoldId();
  const since = Date.now();
  const self = readProcessStat(process.pid);
  const record = (): HoldRecord => ({
    id,
    holder: { pid: process.pid, startTime: self?.startTime ?? 0 },
    command,
    detached: options.detached,
    targets: targets.map(targetSummary),
    backend: frozen.backend,
    pids: frozen.processes.map((p) => p.pid),
    threads: frozen.processes.reduce((sum, p) => sum + p.threads, 0),
    since,
    leaseEndsAt: options.maxHoldMs === undefined ? null : since + options.maxHoldMs,
    forEndsAt: options.forMs === undefined ? null : since + options.forMs,
    intact: frozen.intact,
    breaches: frozen.breaches.length,
  });
  writeHold(record());
  let ended = false;
  return {
    id,
    update() {
      if (!ended) writeHold(record());
    },
    end(outcome) {
      if (ended) return;
      ended = true;
      if (outcomeRequested(id)) {
        clearOutcomeRequest(id);
        writeHold({
          ...record(),
          ended: { at: Date.now(), intact: frozen.intact, breaches: frozen.breaches.length, ...outcome },
        });
      } else {
        removeHold(id);
      }
    },
  };
}
