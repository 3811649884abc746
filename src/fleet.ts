/**
 * Freezing the same target on many hosts at once, for a Node controller, over the system's
 * `ssh` client (no transport of our own), in two phases so that the hold does not grow with
 * the number of hosts:
 * 1. prepare: one session per host runs `treefreeze freeze <target> --prepare
 *    --until-stdin-closes --json` there, which connects, starts Node, resolves the target,
 *    checks it may freeze it and starts its watchdogs — and stops nothing. Any host that fails
 *    or is silent by `prepareTimeoutMs` ends the whole fleet before a single freeze.
 * 2. freeze: one line "freeze <deadline>" is written to every session at once; `timeoutMs`
 *    covers this phase alone, and a host the order reaches after the deadline (on this
 *    machine's clock: keep the fleet's clocks in step) does not freeze. Then the barrier: every host reports frozen, or every host is told to thaw.
 * A holder freezes only on that line, and not if "thaw" or the end of its input is already
 * there: a host never freezes after the fleet has failed. The hold lasts while the session's
 * input is open, so the controller's death thaws every host (sshd closes the pipe), and the
 * lease bounds what nobody notices (a cut link).
 */
import { FreezeError, invalidArgument } from './base/errors.js';
import { type HostThaw, hostThaw } from './fleet/outcome.js';
import { openSession, type Session } from './fleet/session.js';
import { checkDuration, type RequiredOptions } from './hold/plan.js';
import { signalChild } from './kernel/child-signal.js';

export type { HostThaw } from './fleet/outcome.js';

/** `maxHoldMs` is required: the lease on every host, after which a host thaws by itself, whatever happens. */
export interface FleetOptions extends RequiredOptions<'maxHoldMs'> {
  /** What to freeze on every host: a treefreeze target (a name, :PORT, unit:NAME, a pid...). */
  target: string;
  /** The ssh command and its options, before the host (default: ['ssh']). */
  ssh?: readonly string[];
  /**
   * Reuse one ssh connection per host across calls: the control socket's path (ssh's
   * ControlPath, with its tokens, e.g. '~/.ssh/tf-%C'); adds ControlMaster=auto and
   * ControlPersist (`controlPersist`, default '5m'). A connection's key exchange costs the
   * controller ~0.1 s of CPU per host; a reused one, nothing.
   */
  controlPath?: string;
  controlPersist?: string;
  /** How treefreeze is run on the hosts (default: 'treefreeze'), e.g. 'sudo treefreeze'. */
  remoteCommand?: string;
  /** More `treefreeze freeze` options for every host, e.g. ['--backend', 'auto']. */
  extraArgs?: readonly string[];
  /** How long every host may take to connect and prepare, in ms (default 30 s). */
  prepareTimeoutMs?: number;
  /** How long every host may take to report frozen once ordered, in ms (default 10 s). */
  timeoutMs?: number;
  /**
   * Called once every host is prepared, before any is ordered to freeze (logging, a last
   * check). Throwing ends the fleet unfrozen. Keep it short: a host waits for its order at
   * most `prepareTimeoutMs` from its own preparation.
   */
  beforeFreeze?: (hosts: readonly string[]) => void | Promise<void>;
}

/** One host's hold. */
export interface HostHold {
  host: string;
  /** The hold's id on that host (`treefreeze status` there lists it). */
  hold: string;
  /** The pids frozen there, as that host sees them. */
  pids: number[];
  /** How long the freeze took there, in ms. */
  freezeMs: number;
  /** Date.now() on that host when its last task was confirmed stopped. */
  frozenAt: number;
}

export interface FrozenFleet extends AsyncDisposable {
  readonly hosts: readonly HostHold[];
  /** Thaws every host and resolves with how each hold went. Idempotent. */
  thaw(): Promise<HostThaw[]>;
}

const DEFAULT_PREPARE_TIMEOUT_MS = 30_000;
const DEFAULT_FREEZE_TIMEOUT_MS = 10_000;
/** How long a thaw waits for each host's answer before it counts the host unreachable. */
const THAW_WAIT_MS = 10_000;
/** The same when the fleet failed: its caller is told within a second. */
const FAILED_THAW_WAIT_MS = 800;

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

function sshCommand(options: FleetOptions): string[] {
  const ssh = [...(options.ssh ?? ['ssh'])];
  if (options.controlPath === undefined) return ssh;
  const shared = ['ControlMaster=auto', `ControlPath=${options.controlPath}`];
  shared.push(`ControlPersist=${options.controlPersist ?? '5m'}`);
  return [ssh[0] as string, ...shared.flatMap((option) => ['-o', option]), ...ssh.slice(1)];
}

function remoteCommand(options: FleetOptions, prepareMs: number, freezeMs: number): string {
  return [
    options.remoteCommand ?? 'treefreeze',
    'freeze',
    quote(options.target),
    '--prepare',
    '--prepare-timeout',
    `${Math.ceil(prepareMs)}ms`,
    '--until-stdin-closes',
    '--timeout',
    `${Math.ceil(freezeMs)}ms`,
    '--max-hold',
    `${Math.ceil(options.maxHoldMs)}ms`,
    '--json',
    ...(options.extraArgs ?? []).map(quote),
  ].join(' ');
}

/**
 * Asks a session to end (a line "thaw", then EOF) and waits for its answer, at most `waitMs`;
 * a host that does not answer by then has its ssh client ended (EOF there: it thaws, or its lease does).
 */
async function end(session: Session, waitMs: number): Promise<HostThaw> {
  const before = await Promise.race([session.thawed, Promise.resolve(null)]);
  session.ask();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      signalChild(session.child, 'SIGTERM');
      resolve(null);
    }, waitMs);
  });
  try {
    return hostThaw(session.host, before ?? (await Promise.race([session.thawed, late])));
  } finally {
    clearTimeout(timer);
  }
}

/** Ends every session at once, waiting at most `waitMs` for each. */
const endAll = (sessions: readonly Session[], waitMs: number) =>
  Promise.all(sessions.map((session) => end(session, waitMs)));

/**
 * Waits for every session's `phase`, at most `timeoutMs`; on any failure every session is
 * ended (a prepared host exits unfrozen, a frozen one thaws) before it rejects.
 */
async function barrier<T>(
  sessions: readonly Session[],
  phase: 'prepared' | 'frozen',
  timeoutMs: number,
  what: string,
): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const silent = sessions.filter((session) => !session.answered(phase)).map((session) => session.host);
      reject(
        new FreezeError(
          'FLEET_FAILED',
          `not every host ${what} within ${timeoutMs} ms: no answer from ${silent.join(', ')}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return (await Promise.race([Promise.all(sessions.map((session) => session[phase])), timedOut])) as T[];
  } catch (error) {
    await endAll(sessions, FAILED_THAW_WAIT_MS);
    const left = phase === 'prepared' ? 'nothing was frozen' : 'every host was told to thaw';
    throw error instanceof FreezeError
      ? new FreezeError(error.code, `${error.message}; ${left}`, error.pids)
      : error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Freezes `options.target` on every host of `hosts` (ssh destinations: "db1", "root@10.0.0.5")
 * at once; resolves once all are frozen. Rejects with FLEET_FAILED naming the first host that
 * failed (or every silent one), after ending every session: unfrozen if the preparation failed.
 */
export async function freezeFleet(hosts: readonly string[], options: FleetOptions): Promise<FrozenFleet> {
  if (!Array.isArray(hosts) || hosts.length === 0)
    throw invalidArgument('freezeFleet needs at least one host');
  if (typeof options?.target !== 'string' || options.target === '')
    throw invalidArgument('freezeFleet needs a target');
  checkDuration('maxHoldMs', options.maxHoldMs); // required: the hosts' lease
  const prepareMs = checkDuration('prepareTimeoutMs', options.prepareTimeoutMs ?? DEFAULT_PREPARE_TIMEOUT_MS);
  const freezeMs = checkDuration('timeoutMs', options.timeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS);
  const command = { ssh: sshCommand(options), remote: remoteCommand(options, prepareMs, freezeMs) };
  const sessions = hosts.map((host) => openSession(host, command));
  await barrier(sessions, 'prepared', prepareMs, 'was prepared');
  try {
    await options.beforeFreeze?.(hosts);
  } catch (error) {
    await endAll(sessions, FAILED_THAW_WAIT_MS);
    throw error;
  }
  // One order to every host, written in one go: nothing slow between the first and the last.
  // It carries the deadline: a host it reaches later (held up in a cut link) does not freeze.
  const before = Date.now() + freezeMs;
  for (const session of sessions) session.order(`freeze ${before}`);
  const frozen = await barrier<Awaited<Session['frozen']>>(sessions, 'frozen', freezeMs, 'reported frozen');
  let thawing: Promise<HostThaw[]> | undefined;
  const thaw = () => {
    thawing ??= endAll(sessions, THAW_WAIT_MS);
    return thawing;
  };
  return {
    hosts: frozen.map((event, i) => ({
      host: sessions[i]?.host as string,
      hold: String(event.hold),
      pids: (event.processes ?? []).map((p) => p.pid),
      freezeMs: Number(event.freezeMs),
      frozenAt: Number(event.frozenAt),
    })),
    thaw,
    [Symbol.asyncDispose]: async () => {
      await thaw();
    },
  };
}
