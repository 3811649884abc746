// A separate freezing process for tests that need one: run as another user, as a
// descendant of the tree's root, or as a supervisor of its own workers.
// Prints one JSON line on stdout and exits.
import { spawn } from 'node:child_process';
import { readdirSync, readFile, readFileSync } from 'node:fs';
import { freezeCgroup, freezeDescendants, freezeTree, readTaskStates, thawCgroup } from '../../dist/index.js';

const [mode, arg] = process.argv.slice(2);
const statesOf = (pids) =>
  Object.fromEntries(pids.map((pid) => [pid, (readTaskStates(pid) ?? []).map((t) => t.state).join('')]));
const readComm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
// This process's watchdogs: its children that name themselves so.
const ownWatchdogs = () =>
  readdirSync('/proc/self/task')
    .flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('treefreeze-watchdog');
      } catch {
        return false;
      }
    })
    .map(Number);
const report = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function attempt(freeze, pidsToWatch) {
  try {
    const frozen = await freeze();
    const pids = frozen.processes.map((p) => p.pid);
    const during = statesOf([...pids, ...pidsToWatch()]);
    await frozen.thaw();
    const after = statesOf([...pids, ...pidsToWatch()]);
    report({ ok: true, backend: frozen.backend, pids, self: process.pid, during, after });
  } catch (error) {
    report({ ok: false, code: error.code, pids: error.pids, message: error.message });
  }
}

if (mode === 'spin-own-session') {
  // Run in a session of its own (the caller's setsid): a spinning tree in THIS session, then
  // the first freeze of this fresh process (nothing loaded yet), timed from outside.
  const [fixture, processes, threads] = [arg, process.argv[4], process.argv[5]];
  const tree = spawn(fixture, ['tree', processes, threads, 'spin'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = await new Promise((resolve) => {
    let out = '';
    tree.stdout.on('data', (data) => {
      out += data;
      if (out.includes('\n')) resolve(out.split('\n')[0].split(' ').slice(1).map(Number));
    });
  });
  const started = performance.now();
  let frozen;
  let error;
  try {
    frozen = await freezeTree(ready[0]);
  } catch (caught) {
    error = caught;
  }
  const wallMs = performance.now() - started;
  const stopped = frozen?.processes.length;
  const leftStopped = ready.filter((pid) => /T/.test(statesOf([pid])[pid]));
  await frozen?.thaw();
  process.kill(tree.pid, 'SIGKILL');
  for (const pid of ready) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  report({
    wallMs,
    durationMs: frozen?.durationMs,
    stopped,
    error: error?.code,
    message: error?.message,
    leftStopped: error ? leftStopped.length : 0,
  });
} else if (mode === 'thaw-cgroup') {
  // Thaw a cgroup (run as a user who may not): the error must be a FreezeError.
  try {
    report({ ok: true, ...thawCgroup(arg) });
  } catch (error) {
    report({ ok: false, name: error.name, code: error.code, message: error.message });
  }
} else if (mode === 'guard-many') {
  // A watchdog told about many processes (more than any pipe holds), then this freezer
  // stops the tree of process.argv[4] pids and hangs: the test SIGKILLs it.
  const { acquireWatchdog } = await import('../../dist/watchdog/shared.js');
  const { defaultPlatform } = await import('../../dist/kernel/platform.js');
  const { readProcessStat } = await import('../../dist/kernel/procfs.js');
  const bogus = Number(arg);
  const real = JSON.parse(process.argv[4]).map((pid) => ({ pid, startTime: readProcessStat(pid).startTime }));
  const watchdog = await acquireWatchdog(defaultPlatform, performance.now() + 5000);
  await watchdog.confirmRunning();
  const started = performance.now();
  // Pids above pid_max never exist: harmless lines that only make the list long.
  const filler = Array.from({ length: bogus }, (_, i) => ({ pid: 5_000_000 + i, startTime: 1 }));
  try {
    watchdog.guardProcesses(filler);
    watchdog.guardProcesses(real);
  } catch (error) {
    report({ ok: false, code: error.code, message: error.message, guardMs: performance.now() - started });
    process.exit(0);
  }
  const guardMs = performance.now() - started;
  for (const { pid } of real) process.kill(pid, 'SIGSTOP');
  report({ ok: true, guardMs, watchdog: watchdog.pid });
  setInterval(() => {}, 1 << 30);
} else if (mode === 'busy-pool') {
  // Run with UV_THREADPOOL_SIZE=1: a read of a FIFO nobody writes occupies the only pool
  // thread, where the watchdog's posix_spawn would run. The freeze must still end by its deadline.
  readFile(process.argv[4], () => {});
  const started = performance.now();
  await attempt(
    () => freezeTree(Number(arg), { timeoutMs: 500 }),
    () => [],
  );
  report({ elapsedMs: performance.now() - started });
} else if (mode === 'forget') {
  // Freeze and simply return: nothing may keep this process alive, and its watchdog thaws.
  const frozen = await freezeTree(Number(arg), JSON.parse(process.argv[4] ?? '{}'));
  report({ frozen: true, pids: frozen.processes.map((p) => p.pid), watchdogs: ownWatchdogs() });
} else if (mode === 'await-thawed') {
  // Freeze (options: argv[4]), report, then only `await frozen.thawed` with nothing else
  // pending: the process must stay alive until the hold ends, then report why and exit.
  const frozen = await freezeTree(Number(arg), JSON.parse(process.argv[4] ?? '{}'));
  report({ frozen: true, pids: frozen.processes.map((p) => p.pid), frozenAt: frozen.frozenAt });
  const reason = await frozen.thawed;
  report({ reason, endedAt: frozen.endedAt, covered: frozen.covered(frozen.frozenAt, frozen.endedAt) });
} else if (mode === 'hold-cgroup') {
  // Freeze a cgroup, report, then hold until killed.
  await freezeCgroup(arg);
  report({ frozen: true });
  setInterval(() => {}, 1 << 30);
} else if (mode === 'hold') {
  // Freeze, report, then hold forever (or hang the event loop with "hang"): the test kills us.
  // "reportWatchdogEvents": then each watchdog event too, as it happens, one line each.
  const { reportWatchdogEvents, ...options } = JSON.parse(process.argv[4] ?? '{}');
  if (reportWatchdogEvents) {
    options.onHoldEvent = (event) => event.type === 'watchdog' && report({ watchdog: event.watchdog });
  }
  process.stdout.write('go\n');
  const frozen = await freezeTree(Number(arg), options);
  report({
    frozen: true,
    pids: frozen.processes.map((p) => p.pid),
    identity: frozen.identity,
    watchdogs: ownWatchdogs(),
    watchdogOutsideCgroup: frozen.watchdogOutsideCgroup,
  });
  if (options.hang) for (const until = Date.now() + 20_000; Date.now() < until; );
  setInterval(() => {}, 1 << 30);
} else if (mode === 'hold-for') {
  // Freeze (options: argv[5]), hold for argv[4] ms, thaw, report each step; a refused freeze reports its code.
  try {
    const frozen = await freezeTree(Number(arg), JSON.parse(process.argv[5] ?? '{}'));
    report({ frozen: true, pids: frozen.processes.map((p) => p.pid) });
    await new Promise((resolve) => setTimeout(resolve, Number(process.argv[4])));
    await frozen.thaw();
    report({ thawed: true, intact: frozen.intact });
  } catch (error) {
    report({ ok: false, code: error.code, message: error.message });
  }
} else if (mode === 'two-holds') {
  // Two freezes in a row, both held, sharing this process's watchdog: the first with its
  // options, then (after "next" on stdin, so the test can time a kill) the second.
  // Reports after each; "hang" blocks the event loop after both.
  const [second, firstOptions, secondOptions] = process.argv.slice(4);
  const options = [JSON.parse(firstOptions ?? '{}'), JSON.parse(secondOptions ?? '{}')];
  const held = [await freezeTree(Number(arg), options[0])];
  report({ frozen: 1, watchdogs: ownWatchdogs() });
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdout.write('go\n');
  held.push(await freezeTree(Number(second), options[1]));
  report({ frozen: 2, watchdogs: ownWatchdogs() });
  if (options[1].hang) for (const until = Date.now() + 20_000; Date.now() < until; );
  setInterval(() => {}, 1 << 30);
} else if (mode === 'freeze-thaw-exit') {
  // Freezes and thaws (the watchdog is then idle), reports, and exits on its own.
  const frozen = await freezeTree(Number(arg), { maxHoldMs: 60_000 });
  await frozen.thaw();
  report({ watchdogs: ownWatchdogs() });
} else if (mode === 'tree') {
  await attempt(
    () => freezeTree(Number(arg)),
    () => [],
  );
} else if (mode === 'ancestor') {
  // Freeze the tree rooted at this process's parent: this process must be left out.
  const options = JSON.parse(process.argv[3] ?? '{}');
  await attempt(
    () => freezeTree(process.ppid, options),
    () => [process.pid],
  );
} else if (mode === 'supervisor') {
  const workers = [1, 2, 3].map(() => spawn('sleep', ['30'], { stdio: 'ignore' }));
  // Wait (bounded) until every worker has exec'd sleep.
  for (let i = 0; i < 200 && !workers.every((w) => readComm(w.pid) === 'sleep'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await attempt(
    () => freezeDescendants(),
    () => workers.map((w) => w.pid),
  );
  for (const worker of workers) worker.kill('SIGKILL');
}
