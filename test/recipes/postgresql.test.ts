/**
 * The PostgreSQL recipe (docs/recipes/postgresql.md), for real: a private cluster under
 * pgbench load is copied file by file with `treefreeze run <postmaster pid> -- cp -a`, several
 * times; each copy starts on its own through crash recovery, passes pg_amcheck and keeps
 * pgbench's balances, as a cluster does after a power cut.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseStat } from '../../src/kernel/stat.js';
import {
  cleanupServices,
  descendantsByScan,
  diskMegabytes,
  eventually,
  execute,
  isGone,
  isRoot,
  isStoppedOrDead,
  noneStopped,
  only,
  parseEvents,
  postgresBinDir,
  type RunAs,
  type Service,
  serviceDir,
  skipUnlessAvailable,
  sleep,
  startCli,
  startService,
  statesOf,
  systemUser,
  taskStates,
  treeStatesIn,
  withTaskSnapshot,
} from '../helpers/index.js';

const T = { timeout: 180_000 };
const bin = postgresBinDir() ?? '';
const postgresUser = systemUser('postgres');
const reason = unavailable();
const COPIES = 3;
/** pgbench writes for this long; the copies are taken within its first few seconds. */
const LOAD_SECONDS = 20;

function unavailable(): string {
  if (!isRoot) return 'needs root: the test runs its cluster as the postgres user';
  if (bin === '') return 'PostgreSQL is not installed (scripts/setup-system.sh installs it)';
  const programs = ['initdb', 'pg_ctl', 'postgres', 'pgbench', 'pg_amcheck', 'psql'];
  const missing = programs.filter((name) => !existsSync(join(bin, name)));
  if (missing.length > 0) return `${bin} lacks ${missing.join(', ')}`;
  if (postgresUser === undefined) return 'there is no postgres user';
  return '';
}

/** Every PostgreSQL program runs as postgres (the server refuses root), at home in the test's directory. */
const asPostgres = (dir: string): RunAs => ({
  ...(postgresUser ? { user: postgresUser } : {}),
  cwd: dir,
  env: { HOME: dir, LC_ALL: 'C' },
});

/**
 * One server of the test's, started with pg_ctl on a unix socket in a directory of its own
 * (listen_addresses is empty: no TCP port to find free, none to collide with).
 */
class Server {
  pid = 0;
  /** Every process of its tree seen while it ran, with its start time: all must be gone once it is stopped. */
  readonly seen = new Map<number, number>();
  readonly socketDir: string;
  readonly log: string;

  constructor(
    readonly dir: string,
    readonly dataDir: string,
    readonly port: number,
    name: string,
  ) {
    this.socketDir = join(dir, `${name}-socket`);
    this.log = join(dir, `${name}.log`);
  }

  pg(program: string, args: string[], timeoutMs = 60_000) {
    return execute(join(bin, program), args, { ...asPostgres(this.dir), timeoutMs });
  }

  /** pg_ctl start, waiting until it accepts connections; its wall time. */
  async start(): Promise<number> {
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
    if (postgresUser) chownSync(this.socketDir, postgresUser.uid, postgresUser.gid);
    const options = `-p ${this.port} -k ${this.socketDir}`;
    const started = await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      this.log,
      '-o',
      options,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    assert.equal(started.code, 0, `${started.stdout}${started.stderr}${this.logText()}`);
    this.pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    this.look();
    return started.ms;
  }

  /** Remembers the processes of its tree now. */
  look(): number[] {
    const pids = this.pid > 0 && !isGone(this.pid) ? descendantsByScan(this.pid) : [];
    for (const pid of pids) {
      const started = startTimeOf(pid);
      if (started !== undefined) this.seen.set(pid, started);
    }
    return pids;
  }

  /**
   * SIGKILL to whatever of it is still alive and still the same process (pid and start time):
   * the last resort when pg_ctl could not stop it. Its processes are each in a session of their
   * own, so no process group holds them all.
   */
  killLeftovers(): void {
    for (const [pid, started] of this.seen) {
      if (startTimeOf(pid) !== started) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }

  /** Rows of `sql`, fields split on '|'. */
  async query(sql: string): Promise<string[][]> {
    const args = ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1'];
    const ran = await this.pg('psql', [...args, ...this.connection(), '-d', 'postgres', '-c', sql]);
    assert.equal(ran.code, 0, ran.stderr);
    return ran.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('|'));
  }

  connection(): string[] {
    return ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres'];
  }

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  /** pg_ctl stop; then every process it ever had is gone. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.pid === 0 || isGone(this.pid)) return;
    this.look();
    const stopped = await this.pg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    assert.equal(stopped.code, 0, stopped.stderr);
    const seen = [...this.seen.keys()];
    assert.ok(
      await eventually(() => seen.every(isGoneOrDead), 10_000),
      `its processes exit: ${statesOf(seen)}`,
    );
    this.pid = 0;
  }
}

/** When `pid` started (clock ticks after boot), or undefined once it is gone. */
function startTimeOf(pid: number): number | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).startTime;
  } catch {
    return undefined;
  }
}

/** Exited: gone, or a zombie that init has yet to reap (pg_ctl leaves the postmaster to init). */
const isGoneOrDead = (pid: number) => /^[ZX]*$/.test(taskStates(pid));

/** pgbench's invariant: every transaction adds one delta to an account, a teller, a branch and the history. */
async function balances(server: Server) {
  const [row] = await server.query(
    `select (select sum(abalance) from pgbench_accounts), (select sum(bbalance) from pgbench_branches),
            (select sum(tbalance) from pgbench_tellers), (select sum(delta) from pgbench_history),
            (select count(*) from pgbench_history)`,
  );
  const [accounts, branches, tellers, history, transactions] = (row ?? []).map(Number);
  return { accounts, branches, tellers, history, transactions: transactions ?? 0 };
}

/**
 * Waits until pgbench's 4 clients are connected and have committed transactions (a fixed
 * wait is too short on a loaded machine); returns their backends' pids.
 */
async function pgbenchWriting(server: Server, load: Service): Promise<number[]> {
  const until = Date.now() + 30_000;
  for (;;) {
    assert.equal(load.child.exitCode, null, `pgbench ended early: ${load.output()}`);
    const [row] = await server.query(
      `select string_agg(pid::text, ' '), (select count(*) from pgbench_history)
         from pg_stat_activity where application_name = 'pgbench'`,
    );
    const backends = (row?.[0] ?? '').split(' ').filter(Boolean).map(Number);
    if (backends.length === 4 && Number(row?.[1]) > 0) return backends;
    assert.ok(Date.now() < until, `pgbench did not start writing: ${load.output()}`);
    await sleep(100);
  }
}

function assertBalanced(sums: Awaited<ReturnType<typeof balances>>, what: string): void {
  const { accounts, branches, tellers, history } = sums;
  assert.deepEqual(
    [branches, tellers, history],
    [accounts, accounts, accounts],
    `${what}: ${JSON.stringify(sums)}`,
  );
}

let dir = '';
let original: Server | undefined;
let load: Service | undefined;
const servers: Server[] = [];
const copies: string[] = [];

before(async () => {
  if (reason !== '') return;
  dir = serviceDir('treefreeze-postgresql-', postgresUser);
  const dataDir = join(dir, 'data');
  original = new Server(dir, dataDir, 5432, 'original');
  servers.push(original);
  const init = await original.pg('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-locale',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  assert.equal(init.code, 0, init.stderr);
  // Small, as for a test on two shared cores; fsync stays on, as in production.
  writeFileSync(
    join(dataDir, 'postgresql.conf'),
    "listen_addresses = ''\nshared_buffers = 16MB\nmax_connections = 20\nfsync = on\n",
    { flag: 'a' },
  );
  await original.start();
  const initBench = await original.pg('pgbench', ['-i', '-s', '1', ...original.connection(), 'postgres']);
  assert.equal(initBench.code, 0, initBench.stderr);
});

after(async () => {
  // Whatever an assertion left running: stopped at once, each only if it is still ours.
  for (const server of servers) {
    await server.stop('immediate').catch(() => {});
    server.killLeftovers();
  }
  const left = await cleanupServices();
  assert.deepEqual(left, [], 'no pgbench left behind');
  const seen = servers.flatMap((server) => [...server.seen.keys()]);
  assert.ok(
    await eventually(() => seen.every(isGoneOrDead), 10_000),
    `no postgres left behind: ${statesOf(seen)}`,
  );
});

describe('PostgreSQL: a file copy of a live cluster under `treefreeze run` recovers like a power cut', () => {
  test(
    `${COPIES} copies under pgbench load: each run exits 0, with the whole postmaster tree stopped`,
    T,
    async (t) => {
      if (!skipUnlessAvailable(t, reason)) return;
      const server = original as Server;
      // Rate-limited: four clients at 300 transactions a second leave two shared cores room for the test.
      load = startService(
        join(bin, 'pgbench'),
        [...server.connection(), '-c', '4', '-j', '2', '-T', String(LOAD_SECONDS), '-R', '300', 'postgres'],
        asPostgres(dir),
      );
      const backends = await pgbenchWriting(server, load);
      for (let i = 1; i <= COPIES; i++) {
        const copy = join(dir, `copy${i}`);
        const snapshot = join(dir, `tasks${i}`);
        const command = withTaskSnapshot(['cp', '-a', server.dataDir, copy], snapshot);
        const started = performance.now();
        const result = await startCli([
          'run',
          String(server.pid),
          '--max-hold',
          '1m',
          '--json-fd',
          '3',
          '--',
          ...command,
        ]).done;
        const wallMs = performance.now() - started;
        assert.equal(result.code, 0, result.stderr);
        copies.push(copy);
        const events = parseEvents(result.fd3);
        const frozen = only(events, 'frozen');
        const thawed = only(events, 'thawed');
        assert.equal(thawed.covered, true, 'the copy ran entirely under an intact hold');
        // Seen by the command itself, as it finished copying: every task of every process stopped.
        const states = treeStatesIn(readFileSync(snapshot, 'utf8'), server.pid);
        const frozenPids = (frozen.processes as { pid: number }[]).map((process) => process.pid);
        for (const pid of backends)
          assert.ok(frozenPids.includes(pid), `pgbench's backend ${pid} was frozen`);
        for (const pid of frozenPids) assert.ok(states.has(pid), `process ${pid} is in the snapshot`);
        const running = [...states].filter(([, tasks]) => !isStoppedOrDead(tasks));
        assert.deepEqual(running, [], 'nothing of the tree ran while the copy was made');
        assert.ok(noneStopped(server.look()), `the tree runs again: ${statesOf(server.look())}`);
        assert.equal(load.child.exitCode, null, `pgbench was still writing: ${load.output()}`);
        console.log(
          `# copy ${i}: ${diskMegabytes(copy)} MiB; froze ${frozenPids.length} processes in ${frozen.freezeMs} ms, held ${Math.round(thawed.heldMs)} ms (the copy), run took ${Math.round(wallMs)} ms`,
        );
        await sleep(1000);
      }
      const code = await load.exited; // within LOAD_SECONDS; the test's deadline guards against a hang
      const report = load.output();
      assert.equal(code, 0, report);
      // PostgreSQL 15 counts failed transactions; before it, a failure aborted a client (exit 2).
      const failed = /number of failed transactions: (\d+)/.exec(report)?.[1] ?? '0';
      assert.equal(failed, '0', report);
      const processed = /number of transactions actually processed: (\d+)/.exec(report)?.[1];
      assert.ok(Number(processed) > 0, report);
      const lag = /rate limit schedule lag: (.*)/.exec(report)?.[1];
      console.log(`# pgbench: ${processed} transactions, ${failed} failed; schedule lag ${lag}`);
    },
  );

  test(
    'each copy starts through crash recovery, passes pg_amcheck and keeps pgbench’s balances',
    T,
    async (t) => {
      if (!skipUnlessAvailable(t, reason)) return;
      assert.equal(copies.length, COPIES, 'every copy was made');
      let previous = 0;
      for (const [i, copy] of copies.entries()) {
        // The copy carries the live server's lock file: it names the original's postmaster,
        // which would make pg_ctl refuse to start the copy (and pg_ctl stop -D copy stop the original).
        const lockFile = join(copy, 'postmaster.pid');
        assert.ok(existsSync(lockFile), 'the copy holds the running server’s postmaster.pid');
        rmSync(lockFile);
        const server = new Server(dir, copy, 5433 + i, `copy${i + 1}`);
        servers.push(server);
        const startMs = await server.start();
        const log = server.logText();
        assert.match(log, /not properly shut down; automatic recovery in progress/, log);
        const redo = /redo done at .* elapsed: ([\d.]+) s/.exec(log)?.[1];
        const amcheck = await server.pg('pg_amcheck', [
          ...server.connection(),
          '--install-missing',
          '--all',
          '--heapallindexed',
        ]);
        assert.equal(amcheck.code, 0, `${amcheck.stdout}${amcheck.stderr}`);
        const sums = await balances(server);
        assertBalanced(sums, `copy ${i + 1}`);
        assert.ok(sums.transactions > previous, `copy ${i + 1} holds more transactions than the one before`);
        previous = sums.transactions;
        console.log(
          `# copy ${i + 1}: started in ${Math.round(startMs)} ms through crash recovery (redo ${redo} s); pg_amcheck ${Math.round(amcheck.ms)} ms; ${sums.transactions} transactions, balanced`,
        );
        await server.stop();
      }
    },
  );

  test(
    'the original’s balances agree, with every transaction pgbench counted, and it stops cleanly',
    T,
    async (t) => {
      if (!skipUnlessAvailable(t, reason)) return;
      const server = original as Server;
      const sums = await balances(server);
      assertBalanced(sums, 'the original');
      const processed = /number of transactions actually processed: (\d+)/.exec(load?.output() ?? '')?.[1];
      assert.equal(
        sums.transactions,
        Number(processed),
        'one history row for each transaction pgbench counted',
      );
      assert.ok(noneStopped(server.look()), 'nothing of it left stopped');
      await server.stop();
    },
  );
});
