/**
 * freeze --detach: the hold is kept by a background holder — this same command, started
 * again without --detach in a session of its own, with its own watchdog and lease — and
 * this process returns once the holder reports the tree frozen and confirmed (or failed); with
 * --prepare, once it reports itself prepared (nothing stopped yet: `release` orders the freeze).
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { FreezeError } from '../base/errors.js';
import { signalChild } from '../kernel/child-signal.js';
import { formatDuration } from './duration.js';
import { eventSink } from './event-writer.js';
import { EXIT } from './exit-codes.js';
import { jsonLine, printable } from './printable.js';
import { count } from './style.js';

/** The environment variable that makes the command a holder, naming the fd it reports on. */
export const HOLDER_FD_VARIABLE = 'TREEFREEZE_HOLDER_FD';

interface HolderReport {
  ok: boolean;
  event?: { hold: string; processes: unknown[]; freezeMs: number; targets: { label: string }[] };
  /** freeze --prepare --detach: prepared, nothing stopped; `treefreeze release <hold>` freezes it. */
  prepared?: { hold: string; freezeWithinMs: number; targets: { label: string; pids: number[] }[] };
  error?: { code: string; message: string; pids: number[] };
}

/** How long the holder may take to report: its freeze has its own --timeout on top of Node's start. */
const REPORT_GRACE_MS = 30_000;

export async function detachHold(
  argv: readonly string[],
  timeoutMs: number,
  json: boolean,
  leaseMs: number | undefined,
): Promise<number> {
  const args = argv.slice(1).filter((word, index) => !(word === '--detach' && index < dashDash(argv)));
  const holder = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true, // its own session: a closed terminal or a Ctrl-C here does not reach it
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [HOLDER_FD_VARIABLE]: '3' },
  });
  const channel = holder.stdio[3] as NodeJS.ReadableStream;
  const report = await new Promise<HolderReport | null>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(null), timeoutMs + REPORT_GRACE_MS);
    channel.on('data', (data) => {
      text += data;
      if (text.includes('\n')) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(text.slice(0, text.indexOf('\n'))) as HolderReport);
        } catch {
          resolve(null);
        }
      }
    });
    // Exited without a report (its data, if any, came first: 'close' waits for the pipe's end).
    holder.once('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  (channel as unknown as { destroy(): void }).destroy();
  holder.unref();
  if (report === null) {
    signalChild(holder, 'SIGTERM'); // if it is still freezing, it rolls back and exits
    const message = 'the background holder ended without reporting a freeze; nothing is held';
    if (json) eventSink(1)({ event: 'error', code: 'FAILED', message, pids: [] });
    process.stderr.write(`treefreeze: ${message}\n`);
    return EXIT.FAILED;
  }
  if (report.ok && report.prepared) return announcePrepared(report.prepared, holder.pid as number, json);
  if (!report.ok || !report.event) {
    const error = report.error ?? { code: 'FAILED', message: 'the background holder failed', pids: [] };
    if (json) eventSink(1)({ event: 'error', ...error });
    process.stderr.write(`treefreeze: ${printable(error.message)}\n`);
    return EXIT.FAILED;
  }
  const { event } = report;
  if (json) {
    process.stdout.write(jsonLine({ ...event, detached: true, holder: holder.pid, at: Date.now() }));
  } else {
    const lease = leaseMs === undefined ? '' : `; its lease thaws it within ${formatDuration(leaseMs)}`;
    process.stderr.write(
      `froze ${count(event.processes.length, 'process', 'processes')} of ${event.targets.map((t) => printable(t.label)).join(', ')}; held in the background as ${event.hold} (pid ${holder.pid})${lease}; treefreeze thaw ${event.hold} ends it\n`,
    );
    process.stdout.write(`${event.hold}\n`);
  }
  return EXIT.OK;
}

/** The background holder is prepared: its id on stdout (--json: the prepared event, with it). */
function announcePrepared(
  prepared: NonNullable<HolderReport['prepared']>,
  holder: number,
  json: boolean,
): number {
  if (json) {
    process.stdout.write(jsonLine({ ...prepared, detached: true, holder, at: Date.now() }));
    return EXIT.OK;
  }
  const pids = prepared.targets.reduce((sum, target) => sum + target.pids.length, 0);
  process.stderr.write(
    `prepared to freeze ${prepared.targets.map((t) => printable(t.label)).join(', ')} (${count(pids, 'process', 'processes')} now; nothing stopped) in the background as ${prepared.hold} (pid ${holder}); treefreeze release ${prepared.hold} freezes it, treefreeze thaw ${prepared.hold} dismisses it; it exits unfrozen if no order comes within ${formatDuration(prepared.freezeWithinMs)}\n`,
  );
  process.stdout.write(`${prepared.hold}\n`);
  return EXIT.OK;
}

function dashDash(argv: readonly string[]): number {
  const index = argv.indexOf('--');
  return index < 0 ? argv.length : index;
}

/** freeze --detach's holder tells the waiting command how the freeze went: one JSON line, then it is on its own. */
export function reportToParent(fd: number, report: Record<string, unknown>): void {
  try {
    writeSync(fd, `${JSON.stringify(report)}\n`);
    closeSync(fd);
  } catch {
    // the command that started us is gone: hold anyway, the lease bounds it
  }
}

export function errorFields(error: unknown) {
  return error instanceof FreezeError
    ? { code: error.code, message: error.message, pids: error.pids }
    : { code: 'FAILED', message: String((error as Error)?.message ?? error), pids: [] };
}
