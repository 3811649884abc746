/**
 * One host of a fleet: an ssh session running `treefreeze freeze <target> --prepare
 * --until-stdin-closes --json` there, read as a stream of events. The session's input is the
 * host's order channel: a line "freeze", a line "thaw", and its end (which thaws, or ends
 * the hold unfrozen, there).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { FreezeError } from '../base/errors.js';
import {
  type DismissedLine,
  type ErrorLine,
  type EventLine,
  type FrozenLine,
  type PreparedLine,
  parseEventLine,
  type ThawedLine,
} from '../protocol/events.js';

/** What opens a session: the ssh command, and the remote command line (already quoted). */
export interface SessionCommand {
  ssh: readonly string[];
  remote: string;
}

export interface Session {
  host: string;
  child: ChildProcessWithoutNullStreams;
  /** The host's prepared event; rejects with FLEET_FAILED naming the host and its reason. */
  prepared: Promise<PreparedLine>;
  /** The host's frozen event, once ordered to freeze; rejects like `prepared`. */
  frozen: Promise<FrozenLine>;
  /** The host's thawed event (null: the session ended without one), and whether ending had been asked. */
  thawed: Promise<{ event: ThawedLine | null; asked: boolean }>;
  /** Whether the host has answered the current phase (prepared, then frozen), or failed. */
  answered(phase: 'prepared' | 'frozen'): boolean;
  /** Writes an order line; false when the session's input is closed already. */
  order(line: `freeze ${number}` | 'thaw'): boolean;
  /** From now on an end is asked for: writes "thaw" and closes the input. */
  ask(): void;
}

/** Events that end a phase: the wanted one, or a failure. */
type Outcome<E> = E | ErrorLine | DismissedLine | ThawedLine;

export function openSession(host: string, command: SessionCommand): Session {
  const [ssh, ...sshArgs] = command.ssh;
  const child = spawn(ssh as string, [...sshArgs, host, command.remote], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data) => {
    stderr = (stderr + data).slice(-4096); // the last words are the reason; a flood is not kept
  });
  child.stdin.on('error', () => {}); // a session that ended: its input is closed already
  const stream = eventStream(child);
  const answered = { prepared: false, frozen: false };
  const phase = <E extends EventLine>(name: 'prepared' | 'frozen') =>
    stream
      .next(
        (event): event is Outcome<E> =>
          event.event === name || ['error', 'dismissed', 'thawed'].includes(event.event),
      )
      .then((event) => {
        answered[name] = true;
        if (event?.event === name) return event as E;
        throw new FreezeError('FLEET_FAILED', `${host}: ${failure(event, stderr)}`);
      });
  const prepared = phase<PreparedLine>('prepared');
  const frozen = prepared.then(() => phase<FrozenLine>('frozen'));
  prepared.catch(() => {});
  frozen.catch(() => {});
  let asked = false;
  const thawed = stream
    .next((event): event is ThawedLine => event.event === 'thawed')
    .then((event) => ({ event: event ?? null, asked })); // asked: read when the answer arrives
  const order = (line: `freeze ${number}` | 'thaw') => {
    if (!child.stdin.writable) return false;
    child.stdin.write(`${line}\n`);
    return true;
  };
  return {
    host,
    child,
    prepared,
    frozen,
    thawed,
    answered: (name) => answered[name],
    order,
    ask: () => {
      asked = true;
      order('thaw');
      child.stdin.end();
    },
  };
}

/** Why a host failed, in one line: its error event, or the session's last words. */
function failure(event: EventLine | undefined, stderr: string): string {
  if (event?.event === 'error') return String(event.message);
  if (event?.event === 'dismissed') return `its hold ended before the freeze (${event.reason})`;
  if (event?.event === 'thawed') return `its hold ended (${event.thawReason})`;
  // A crash ends with a stack and "Node.js v20…": the error's own line says more.
  const lines = stderr.split('\n').map((line) => line.trim());
  const said = lines.filter((line) => line !== '' && !/^at |^Node\.js v|^\^+$|^\}$/.test(line));
  return said.find((line) => /Error\b/.test(line)) ?? said.at(-1) ?? 'the ssh session ended';
}

/** The session's events as they come; `next(wanted)` resolves with the first match, or undefined at the end. */
function eventStream(child: ChildProcessWithoutNullStreams) {
  const events: EventLine[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  let done = false;
  child.stdout.on('data', (data) => {
    buffered += data;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const event = parseEventLine(buffered.slice(0, end)); // null: not an event (a login banner)
      if (event) events.push(event);
      buffered = buffered.slice(end + 1);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.once('close', () => {
    done = true; // before waking the waiters: they return once done
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    async next<E extends EventLine>(wanted: (event: EventLine) => event is E): Promise<E | undefined> {
      for (;;) {
        const found = events.find(wanted);
        if (found || done) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}
