/**
 * Freezing the same target on many hosts at once, for a Node controller, over the system's
 * `ssh` client (no transport of our own). One ssh session per host runs
 * `treefreeze freeze <target> --until-stdin-closes --max-hold D --json` there: the hold
 * lasts while the session's stdin is open, so the controller's exit, a crash or a killed
 * ssh thaws the host (sshd closes the pipe), and the lease bounds what nobody notices (a
 * cut link). Resolves once every host reports frozen; if any fails, every host that froze
 * is thawed before it rejects.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { FreezeError, invalidArgument } from './base/errors.js';
import { checkDuration, type RequiredOptions } from './hold/plan.js';
import { signalChild } from './kernel/child-signal.js';
import {
  type ErrorLine,
  type EventLine,
  type FrozenLine,
  parseEventLine,
  type ThawedLine,
} from './protocol/events.js';

/** `maxHoldMs` is required: the lease on every host, after which a host thaws by itself, whatever happens. */
export interface FleetOptions extends RequiredOptions<'maxHoldMs'> {
  /** What to freeze on every host: a treefreeze target (a name, :PORT, unit:NAME, a pid...). */
  target: string;
  /** The ssh command and its options, before the host (default: ['ssh']). */
  ssh?: readonly string[];
  /** How treefreeze is run on the hosts (default: 'treefreeze'), e.g. 'sudo treefreeze'. */
  remoteCommand?: string;
  /** More `treefreeze freeze` options for every host, e.g. ['--backend', 'auto']. */
  extraArgs?: readonly string[];
  /** How long every host may take to report frozen, in ms (default DEFAULT_FLEET_TIMEOUT_MS, 30 s). */
  timeoutMs?: number;
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
}

/** How one host's hold ended. */
export interface HostThaw {
  host: string;
  /** Whether the hold stayed unbroken from freeze to thaw; null if the host did not say (unreachable). */
  intact: boolean | null;
  breaches: number | null;
  heldMs: number | null;
  /** 'stdin' (thawed when asked), 'lease', 'signal'...; null if the host did not say. */
  reason: string | null;
}

export interface FrozenFleet extends AsyncDisposable {
  readonly hosts: readonly HostHold[];
  /** Thaws every host and resolves with how each hold went. Idempotent. */
  thaw(): Promise<HostThaw[]>;
}

/** Every host's ssh connection, Node start and freeze, at once. */
const DEFAULT_FLEET_TIMEOUT_MS = 30_000;

interface Session {
  host: string;
  child: ChildProcessWithoutNullStreams;
  frozen: Promise<HostHold>;
  thawed: Promise<HostThaw>;
  stderr: () => string;
}

const quote = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

function open(host: string, options: FleetOptions): Session {
  const [ssh, ...sshArgs] = options.ssh ?? ['ssh'];
  const remote = [
    options.remoteCommand ?? 'treefreeze',
    'freeze',
    quote(options.target),
    '--until-stdin-closes',
    '--max-hold',
    `${Math.ceil(options.maxHoldMs)}ms`,
    '--json',
    ...(options.extraArgs ?? []).map(quote),
  ].join(' ');
  const child = spawn(ssh as string, [...sshArgs, host, remote], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data) => {
    stderr += data;
  });
  child.stdin.on('error', () => {}); // a session that ended: its stdin is closed already
  const events: EventLine[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  child.stdout.on('data', (data) => {
    buffered += data;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const event = parseEventLine(buffered.slice(0, end)); // null: not an event (a login banner)
      if (event) events.push(event);
      buffered = buffered.slice(end + 1);
      for (const wake of waiters.splice(0)) wake();
    }
  });
  let done = false;
  child.once('close', () => {
    done = true; // before waking the waiters: they return once done
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async <E extends EventLine>(wanted: (event: EventLine) => event is E) => {
    for (;;) {
      const found = events.find(wanted);
      if (found || done) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const frozen = next(
    (event): event is FrozenLine | ErrorLine => event.event === 'frozen' || event.event === 'error',
  ).then((event) => {
    if (event?.event === 'frozen') {
      return {
        host,
        hold: String(event.hold),
        pids: (event.processes ?? []).map((p) => p.pid),
        freezeMs: Number(event.freezeMs),
      };
    }
    const reason = event
      ? String(event.message)
      : stderr.trim().split('\n').at(-1) || 'the ssh session ended';
    throw new FreezeError('FLEET_FAILED', `${host}: ${reason}`);
  });
  frozen.catch(() => {});
  const thawed = next((event): event is ThawedLine => event.event === 'thawed').then((event) => ({
    host,
    intact: event ? Boolean(event.intact) : null,
    breaches: event ? (event.breaches ?? []).length : null,
    heldMs: event ? Number(event.heldMs) : null,
    reason: event ? String(event.thawReason) : null,
  }));
  return { host, child, frozen, thawed, stderr: () => stderr };
}

/** Asks a session to thaw (a line "thaw", then EOF) and waits for its answer, at most `waitMs`. */
async function end(session: Session, waitMs: number): Promise<HostThaw> {
  if (session.child.stdin.writable) {
    session.child.stdin.write('thaw\n');
    session.child.stdin.end();
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<HostThaw>((resolve) => {
    timer = setTimeout(() => {
      signalChild(session.child, 'SIGTERM'); // the host sees its session end: EOF, it thaws
      resolve({ host: session.host, intact: null, breaches: null, heldMs: null, reason: null });
    }, waitMs);
  });
  try {
    return await Promise.race([session.thawed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Freezes `options.target` on every host of `hosts` (ssh destinations: "db1", "root@10.0.0.5")
 * at once; resolves once all are frozen. Rejects with FLEET_FAILED naming the first host
 * that failed, after thawing every host that had frozen.
 */
export async function freezeFleet(hosts: readonly string[], options: FleetOptions): Promise<FrozenFleet> {
  if (!Array.isArray(hosts) || hosts.length === 0)
    throw invalidArgument('freezeFleet needs at least one host');
  if (typeof options?.target !== 'string' || options.target === '')
    throw invalidArgument('freezeFleet needs a target');
  checkDuration('maxHoldMs', options.maxHoldMs); // required: the hosts' lease
  const timeoutMs = checkDuration('timeoutMs', options.timeoutMs ?? DEFAULT_FLEET_TIMEOUT_MS);
  const sessions = hosts.map((host) => open(host, options));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FreezeError('FLEET_FAILED', `not every host reported frozen within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let holds: HostHold[];
  try {
    holds = await Promise.race([Promise.all(sessions.map((session) => session.frozen)), timedOut]);
  } catch (error) {
    await Promise.all(sessions.map((session) => end(session, 10_000)));
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let thawing: Promise<HostThaw[]> | undefined;
  const thaw = () => {
    thawing ??= Promise.all(sessions.map((session) => end(session, 10_000)));
    return thawing;
  };
  return {
    hosts: holds,
    thaw,
    [Symbol.asyncDispose]: async () => {
      await thaw();
    },
  };
}
