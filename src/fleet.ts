/**
 * Freezing the same target on many hosts at once, for a Node controller, over the system's
 * `ssh` client (no transport of our own). One ssh session per host runs
 * `treefreeze freeze <target> --until-stdin-closes --max-hold D --json` there: the hold
 * lasts while the session's stdin is open, so the controller's exit, a crash or a killed
 * ssh thaws the host (sshd closes the pipe), and the lease bounds what nobody notices (a
 * cut link). Resolves once every host reports frozen; if any fails, every host is told to
 * thaw before it rejects (a host that does not confirm within a second has its session ended,
 * which thaws it there). thaw() counts a host intact only if its hold held until thaw() ended it.
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
  /**
   * Whether the host's hold covered everything up to this thaw: it answered that the hold
   * stayed unbroken, and it was still holding when thaw() ended it. false when it broke, when
   * it ended before thaw() (its lease ran out, its tree exited, someone thawed it there), or
   * when the host did not answer (its session ended or went silent: its lease thaws it).
   */
  intact: boolean;
  /**
   * How it ended: 'stdin' (by this thaw), the host's own reason when it ended before
   * ('lease', 'exited', 'signal', 'request', or 'stdin' when its session closed by itself), or
   * 'unreachable' when the host did not answer.
   */
  reason: string;
  /** Whether the hold had ended before thaw() was called: then nothing after that was held there. */
  endedEarly: boolean;
  /** How many times the hold was found broken; null if the host did not answer. */
  breaches: number | null;
  /** How long the host held; null if it did not answer. */
  heldMs: number | null;
}

export interface FrozenFleet extends AsyncDisposable {
  readonly hosts: readonly HostHold[];
  /** Thaws every host and resolves with how each hold went. Idempotent. */
  thaw(): Promise<HostThaw[]>;
}

/** Every host's ssh connection, Node start and freeze, at once. */
const DEFAULT_FLEET_TIMEOUT_MS = 30_000;
/** How long a thaw waits for each host's answer before it counts the host unreachable. */
const THAW_WAIT_MS = 10_000;
/** The same when the fleet failed: its caller is told within a second. */
const FAILED_THAW_WAIT_MS = 800;

interface Session {
  host: string;
  child: ChildProcessWithoutNullStreams;
  frozen: Promise<HostHold>;
  /** The host's thawed event (null: the session ended without one), and whether thaw() had asked yet. */
  thawed: Promise<{ event: ThawedLine | null; asked: boolean }>;
  /** Whether it has reported frozen (or failed) yet. */
  answered: () => boolean;
  /** thaw() asks: from now on, an end is this thaw's. */
  ask: () => void;
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
  let answered = false;
  const frozen = next(
    (event): event is FrozenLine | ErrorLine => event.event === 'frozen' || event.event === 'error',
  ).then((event) => {
    answered = true;
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
  let asked = false;
  const thawed = next((event): event is ThawedLine => event.event === 'thawed').then((event) => ({
    event: event ?? null,
    asked, // read when the event (or the session's end) arrives: did thaw() ask before?
  }));
  return {
    host,
    child,
    frozen,
    thawed,
    answered: () => answered,
    ask: () => {
      asked = true;
    },
    stderr: () => stderr,
  };
}

/**
 * Asks a session to thaw (a line "thaw", then EOF) and waits for its answer, at most `waitMs`;
 * a host that does not answer by then has its ssh client ended (its lease thaws it there).
 */
async function end(session: Session, waitMs: number): Promise<HostThaw> {
  const before = await Promise.race([session.thawed, Promise.resolve(null)]);
  session.ask();
  if (session.child.stdin.writable) {
    session.child.stdin.write('thaw\n');
    session.child.stdin.end();
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      signalChild(session.child, 'SIGTERM'); // the host sees its session end: EOF, it thaws
      resolve(null);
    }, waitMs);
  });
  try {
    const settled = before ?? (await Promise.race([session.thawed, late]));
    return hostThaw(session.host, settled);
  } finally {
    clearTimeout(timer);
  }
}

/** What a host said (or did not) as a HostThaw. */
function hostThaw(host: string, settled: { event: ThawedLine | null; asked: boolean } | null): HostThaw {
  const event = settled?.event ?? null;
  if (event === null) {
    return {
      host,
      intact: false,
      reason: 'unreachable',
      endedEarly: !settled?.asked && settled !== null,
      breaches: null,
      heldMs: null,
    };
  }
  // Only this thaw ends a hold with 'stdin' once asked: any other reason (the lease, the tree
  // gone, a signal there) ended it first, even when its word arrived after the asking.
  const endedEarly = !settled?.asked || event.thawReason !== 'stdin';
  return {
    host,
    intact: Boolean(event.intact) && !endedEarly,
    reason: String(event.thawReason),
    endedEarly,
    breaches: (event.breaches ?? []).length,
    heldMs: Number(event.heldMs),
  };
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
    timer = setTimeout(() => {
      const silent = sessions.filter((session) => !session.answered()).map((session) => session.host);
      reject(
        new FreezeError(
          'FLEET_FAILED',
          `not every host reported frozen within ${timeoutMs} ms: no answer from ${silent.join(', ')}; every host was told to thaw`,
        ),
      );
    }, timeoutMs);
  });
  let holds: HostHold[];
  try {
    holds = await Promise.race([Promise.all(sessions.map((session) => session.frozen)), timedOut]);
  } catch (error) {
    // Every host is told at once; one that does not confirm soon has its session ended (EOF
    // there thaws it): the rejection comes within a second of the deadline, whatever the hosts do.
    await Promise.all(sessions.map((session) => end(session, FAILED_THAW_WAIT_MS)));
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let thawing: Promise<HostThaw[]> | undefined;
  const thaw = () => {
    thawing ??= Promise.all(sessions.map((session) => end(session, THAW_WAIT_MS)));
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
