/**
 * A command-line hold's entries in the registry (registry.ts): its record, kept up to date
 * while it holds, and its socket, where `status` and `thaw <id>` ask it (hold-socket.ts).
 */

import type { FrozenTree } from '../hold/frozen-tree.js';
import type { FreezeOptions } from '../hold/plan.js';
import { readProcessStat } from '../kernel/procfs.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { targetSummary } from './event-writer.js';
import { type HoldListener, listenForRequests } from './hold-listener.js';
import { type HoldRecord, newHoldId, removeHold, writeHold } from './hold-registry.js';
import type { RuntimeDir } from './runtime-dir.js';

/** What a hold says when it has ended, to whoever asked it to end. */
export interface HoldOutcome {
  id: string;
  intact: boolean;
  breaches: number;
  heldMs: number;
  reason: string;
  exitCode: number;
  /** What it held, and since when: the asker looks at them in /proc itself. */
  pids: number[];
  since: number;
}

export interface RegisteredHold {
  readonly id: string;
  /** Rewrites the record (a breach changed `intact`). */
  update(): void;
  /** The hold ended: answer whoever asked it to end, then remove its entries. */
  end(outcome: { reason: string; heldMs: number; exitCode: number }): void;
  /** The thaw failed: say so to whoever asked it to end, then remove its entries. */
  fail(error: unknown): void;
  /** What a thaw request is answered once the hold has ended (its outcome, or why there is none). */
  ended(): Promise<unknown>;
}

export async function registerHold(
  dir: RuntimeDir,
  command: 'freeze' | 'run',
  targets: readonly ResolvedTarget[],
  frozen: FrozenTree,
  options: Pick<FreezeOptions, 'maxHoldMs'> & {
    detached: boolean;
    /** Whether the hold has watchdogs (--no-watchdog: none). */
    watchdog: boolean;
    forMs?: number | undefined;
    /** `thaw <id>` asked the hold to end: end it; the outcome is sent once end() is called. */
    onThawRequest: () => void;
    /** The id it had while prepared (freeze --prepare --detach): the same hold, the same name. */
    id?: string | undefined;
  },
): Promise<RegisteredHold> {
  const id = options.id ?? newHoldId();
  const since = frozen.frozenAt; // the hold began when its last task was confirmed stopped
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
    safetyNet: !options.watchdog ? 'none' : frozen.watchdogOutsideCgroup ? 'outside-cgroup' : 'in-cgroup',
  });
  /** What a thaw request is answered: the outcome, or why there is none. */
  let final: { outcome: HoldOutcome } | { error: string } | undefined;
  const waiting: ((answer: NonNullable<typeof final>) => void)[] = [];
  const warn = (what: string) =>
    process.stderr.write(`treefreeze: warning: hold ${id} ${what}; it holds all the same\n`);
  if (!writeHold(dir, record())) warn(`could not be recorded in ${dir.path}: status will not list it`);
  const listener: HoldListener | null = await listenForRequests(dir.path, id, (request) => {
    if (request.request === 'describe') return { record: record() };
    if (request.request === 'release') return { error: 'it is frozen already (treefreeze thaw ends it)' };
    if (final !== undefined) return final;
    options.onThawRequest();
    return new Promise((resolve) => waiting.push(resolve));
  });
  if (listener === null) warn(`cannot listen in ${dir.path}: treefreeze thaw ${id} will not reach it`);
  const settle = (answer: NonNullable<typeof final>) => {
    if (final !== undefined) return;
    final = answer;
    for (const reply of waiting.splice(0)) reply(answer);
    listener?.close();
    removeHold(dir, id);
  };
  return {
    id,
    update() {
      if (final === undefined) writeHold(dir, record());
    },
    end(outcome) {
      const held = { pids: frozen.processes.map((p) => p.pid), since };
      settle({
        outcome: { id, intact: frozen.intact, breaches: frozen.breaches.length, ...held, ...outcome },
      });
    },
    fail(error) {
      settle({ error: `the thaw failed: ${(error as Error)?.message ?? error}` });
    },
    ended: () =>
      final !== undefined ? Promise.resolve(final) : new Promise((resolve) => waiting.push(resolve)),
  };
}
