/**
 * What a hold shows a person on stderr: the summary line, the live status line on a terminal,
 * each breach as it happens, and how the hold ended. JSON events are written elsewhere (event-writer.ts).
 */

import { listPids } from '../base/errors.js';
import type { FrozenTree, HoldBreach, HoldEvent } from '../hold/frozen-tree.js';
import type { FreezeOptions } from '../hold/plan.js';
import { formatDuration } from './duration.js';
import type { EventSink } from './event-writer.js';
import { holdEvent } from './event-writer.js';
import { printable } from './printable.js';
import { count, fitLine, type Segment, useColor } from './style.js';

/** What of a hold's options its output needs. */
export interface HoldView extends Pick<FreezeOptions, 'maxHoldMs' | 'onBreach'> {
  targets: readonly { label: string }[];
  json: boolean;
  forMs?: number | undefined;
}

/** "nginx (pid 812)", or several, as the status line names what is frozen. */
function targetLabel(options: HoldView): string {
  return options.targets.map((target) => target.label).join(', ');
}

function threadTotal(frozen: FrozenTree): number {
  return frozen.processes.reduce((sum, p) => sum + p.threads, 0);
}

export function summary(frozen: FrozenTree): string {
  // Which freezer holds it shows: the default picks the kernel's for a tree that is a cgroup.
  const how = frozen.backend === 'signal' ? '' : ` with the ${frozen.backend} freezer`;
  return `froze ${count(frozen.processes.length, 'process', 'processes')}, ${count(threadTotal(frozen), 'thread')} in ${formatDuration(frozen.durationMs)}${how}`;
}

/** One line per thing that happened to the watchdog during the hold (stderr, human output). */
export function reportWatchdogEvents(frozen: FrozenTree): void {
  for (const { pid, event, replacement } of frozen.watchdogEvents) {
    const what =
      event === 'continued'
        ? `the watchdog (pid ${pid}) was stopped by someone; continued it`
        : event === 'replaced'
          ? `the watchdog (pid ${pid}) was killed; replaced it with pid ${replacement}`
          : `the watchdog (pid ${pid}) was killed and could not be replaced`;
    process.stderr.write(`treefreeze: ${what}\n`);
  }
}

/**
 * A live status line on a terminal: what is frozen, held, left, how to thaw. Returns
 * [stop, clear]: clear wipes the line so another can be printed; the next tick redraws it.
 */
export function startStatusLine(frozen: FrozenTree, options: HoldView): [() => void, () => void] {
  const stream = process.stderr;
  if (options.json || !stream.isTTY) return [() => {}, () => {}];
  const color = useColor(stream);
  const started = performance.now();
  const deadline = options.forMs ?? options.maxHoldMs;
  const draw = () => {
    const held = performance.now() - started;
    const what = `${count(frozen.processes.length, 'process', 'processes')}, ${count(threadTotal(frozen), 'thread')}`;
    const segments: Segment[] = [
      { text: `❄ frozen ${what} of ${targetLabel(options)}`, style: 'cyan', elastic: true },
      { text: `held ${formatDuration(held)}` },
    ];
    if (deadline !== undefined) {
      segments.push({ text: `${formatDuration(Math.max(0, deadline - held))} left`, optional: true });
    }
    if (!frozen.intact) {
      segments.push({ text: `hold broken ${count(frozen.breaches.length, 'time')}`, style: 'red' });
    }
    segments.push({ text: 'Ctrl-C to thaw', style: 'bold', optional: true });
    // One column short of the width: a line that fills it exactly wraps on some terminals.
    stream.write(`\r\x1b[2K${fitLine(segments, (stream.columns || 80) - 1, color)}`);
  };
  draw();
  const timer = setInterval(draw, 200);
  let stopped = false;
  const clear = () => {
    if (!stopped) stream.write('\r\x1b[2K');
  };
  const stop = () => {
    if (stopped) return;
    clear();
    stopped = true;
    clearInterval(timer);
  };
  return [stop, clear];
}

/** "3 processes (12, 13, 14)": who ran. */
function whoRan(breach: HoldBreach): string {
  const what = breach.kind === 'cgroup-thawed' ? 'the cgroup was thawed' : 'ran again';
  const who = `${count(breach.pids.length, 'process', 'processes')} (${listPids(breach.pids, 5)})`;
  return breach.kind === 'cgroup-thawed' ? `${what}: ${who} ran` : `${who} ${what}`;
}

/** Prints each breach as it is noticed and ends (stderr, human output); the status line is redrawn after. */
export function breachPrinter(
  options: HoldView,
  clearStatus: () => void,
  events: EventSink | undefined,
): (event: HoldEvent) => void {
  return (event) => {
    if (events) {
      events(holdEvent(event));
      return;
    }
    if (event.type === 'breach') {
      clearStatus();
      const action =
        event.breach.foundBy === 'thaw'
          ? 'found as the hold ended'
          : options.onBreach === 'refreeze'
            ? 'refreezing'
            : 'reporting only (--on-breach report)';
      process.stderr.write(`treefreeze: hold broken: ${whoRan(event.breach)}; ${action}\n`);
    } else if (event.type === 'breach-ended' && event.breach.refrozen) {
      clearStatus();
      const { breach } = event;
      const newOnes =
        breach.newPids.length > 0
          ? `, and ${count(breach.newPids.length, 'new process', 'new processes')} they forked`
          : '';
      process.stderr.write(
        `treefreeze: refroze them${newOnes}; the tree ran for at most ${formatDuration((breach.endedAt ?? 0) - breach.intactAt)}\n`,
      );
    }
  };
}

/** After the thaw: the hold's verdict and what outside the tree was set right (stderr, human output). */
export function reportHoldEnd(frozen: FrozenTree): void {
  if (!frozen.intact) {
    const ranFor = frozen.breaches.reduce(
      (sum, breach) => sum + ((breach.endedAt ?? 0) - breach.intactAt),
      0,
    );
    process.stderr.write(
      `treefreeze: the hold was broken ${count(frozen.breaches.length, 'time')}: the tree ran for at most ${formatDuration(ranFor)} while held\n`,
    );
  }
  if (frozen.resumedAncestors.length > 0) {
    const list = frozen.resumedAncestors.map((p) => `${p.pid} (${printable(p.comm)})`).join(', ');
    process.stderr.write(
      `treefreeze: continued ${count(frozen.resumedAncestors.length, 'process', 'processes')} above the tree that had stopped when its child stopped: ${list}\n`,
    );
  }
}
