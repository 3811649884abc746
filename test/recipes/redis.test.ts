/**
 * The Redis recipe (docs/recipes/redis.md), for real: a private redis-server under
 * redis-benchmark load is frozen by its port several times, its append-only files copied
 * while it is held; the clients only wait (no error), and every copy is a valid AOF that a
 * server loads.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  cleanupServices,
  diskMegabytes,
  execute,
  freePort,
  missingCommands,
  noneStopped,
  only,
  parseEvents,
  runCli,
  type Service,
  serviceDir,
  skipUnlessAvailable,
  sleep,
  startCli,
  startService,
  taskStates,
  treeStatesIn,
  withTaskSnapshot,
} from '../helpers/index.js';

const T = { timeout: 120_000 };
const missing = missingCommands('redis-server', 'redis-benchmark', 'redis-check-aof', 'redis-cli');
// Redis needs no root: the test freezes a server it started itself.
const reason =
  missing.length > 0 ? `needs ${missing.join(', ')} (scripts/setup-system.sh installs them)` : '';
const COPIES = 3;

/** A redis-server of the test's, on a loopback port, in its own process group. */
interface Redis {
  port: number;
  dir: string;
  service: Service;
}

/** Starts redis-server with its data in `dir` (append-only, no RDB snapshots) and waits until it answers. */
async function startRedis(dir: string): Promise<Redis> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--save',
    '',
  ];
  const service = startService('redis-server', [...args, '--daemonize', 'no'], { cwd: dir });
  // PONG once it has loaded its data (LOADING before).
  for (let ready = false; !ready; await sleep(50)) {
    assert.equal(service.child.exitCode, null, `redis-server exited: ${service.output()}`);
    ready = (await cli(port, 'PING')).stdout.trim() === 'PONG';
  }
  return { port, dir, service };
}

const cli = (port: number, ...command: string[]) => execute('redis-cli', ['-p', String(port), ...command]);

async function dbsize(port: number): Promise<number> {
  const ran = await cli(port, 'DBSIZE');
  assert.equal(ran.code, 0, ran.stderr);
  return Number(ran.stdout.trim());
}

/** Stops one of the test's servers (SIGKILL: nothing of a copy's server needs to be kept). */
async function stopRedis(redis: Redis): Promise<void> {
  redis.service.kill();
  await redis.service.exited;
}

let dir = '';
let server: Redis | undefined;
const copies: string[] = [];

before(async () => {
  if (reason !== '') return;
  dir = serviceDir('treefreeze-redis-');
  mkdirSync(join(dir, 'data'));
  server = await startRedis(join(dir, 'data'));
});

after(async () => {
  assert.deepEqual(await cleanupServices(), [], 'no redis-server or redis-benchmark left behind');
});

describe('Redis: frozen by its port, its AOF copied; clients only wait', () => {
  test(
    `${COPIES} copies and a 1 s freeze under redis-benchmark: each exits 0, no client error`,
    T,
    async (t) => {
      if (!skipUnlessAvailable(t, reason)) return;
      const redis = server as Redis;
      const target = `:${redis.port}`;
      // nice: the benchmark and the server keep both cores busy, and the test's own runs need one.
      const args = [
        '-p',
        String(redis.port),
        '-n',
        '150000',
        '-r',
        '100000',
        '-c',
        '10',
        '-t',
        'set,incr,lpush',
      ];
      const load = startService('nice', ['-n', '10', 'redis-benchmark', ...args, '--csv'], { cwd: dir });
      // Until the benchmark writes: a fixed wait is too short on a loaded machine.
      while ((await dbsize(redis.port)) === 0) {
        assert.equal(load.child.exitCode, null, `redis-benchmark ended early: ${load.output()}`);
        await sleep(50);
      }
      for (let i = 1; i <= COPIES; i++) {
        const copy = join(dir, `copy${i}`);
        mkdirSync(copy);
        const snapshot = join(dir, `tasks${i}`);
        const command = withTaskSnapshot(['cp', '-a', join(redis.dir, 'appendonlydir'), copy], snapshot);
        const started = performance.now();
        const result = await startCli(['run', target, '--max-hold', '1m', '--json-fd', '3', '--', ...command])
          .done;
        const wallMs = performance.now() - started;
        assert.equal(result.code, 0, result.stderr);
        copies.push(copy);
        const events = parseEvents(result.fd3);
        const frozen = only(events, 'frozen');
        const thawed = only(events, 'thawed');
        assert.equal(frozen.root, redis.service.pid, 'the port named the test’s server');
        assert.equal(thawed.covered, true, 'the copy ran entirely under an intact hold');
        // Seen by the command itself, as it finished copying: every thread of the server stopped.
        const states = treeStatesIn(readFileSync(snapshot, 'utf8'), redis.service.pid);
        const threads = frozen.processes[0].threads as number;
        assert.deepEqual([...states], [[redis.service.pid, 'T'.repeat(threads)]], 'every thread stopped');
        assert.ok(noneStopped([redis.service.pid]), `it runs again: ${taskStates(redis.service.pid)}`);
        assert.equal(load.child.exitCode, null, `redis-benchmark was still running: ${load.output()}`);
        console.log(
          `# copy ${i}: ${diskMegabytes(copy)} MiB; froze ${threads} threads in ${frozen.freezeMs} ms, held ${Math.round(thawed.heldMs)} ms (the copy), run took ${Math.round(wallMs)} ms`,
        );
        await sleep(500);
      }
      // A longer hold: its clients wait it out.
      const held = await runCli(['freeze', target, '--for', '1s', '--json']);
      assert.equal(held.code, 0, held.stderr);
      const thawed = only(parseEvents(held.stdout), 'thawed');
      assert.equal(thawed.intact, true);
      assert.ok(noneStopped([redis.service.pid]), `it runs again: ${taskStates(redis.service.pid)}`);
      console.log(`# freeze ${target} --for 1s: held ${Math.round(thawed.heldMs)} ms`);
      assert.equal(load.child.exitCode, null, 'redis-benchmark was still running');

      const code = await load.exited; // the test's deadline guards against a hang
      const report = load.output();
      assert.equal(code, 0, report);
      assert.doesNotMatch(report, /error/i, 'no client saw an error');
      const rows = report
        .split('\n')
        .filter((line) => /^"[A-Z]+",/.test(line))
        .map((line) => line.replaceAll('"', '').split(','));
      assert.equal(rows.length, 3, report);
      // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      const maxLatency = Math.max(...rows.map((row) => Number(row[7])));
      assert.ok(maxLatency >= 500, `a request waited out the 1 s hold: max ${maxLatency} ms`);
      for (const row of rows)
        console.log(
          `# ${row[0]}: ${row[1]} requests/s, p50 ${row[4]} ms, p99 ${row[6]} ms, max ${row[7]} ms`,
        );
    },
  );

  test('each copy is a valid AOF, and a server started on it has the keys', T, async (t) => {
    if (!skipUnlessAvailable(t, reason)) return;
    assert.equal(copies.length, COPIES, 'every copy was made');
    let previous = 0;
    for (const [i, copy] of copies.entries()) {
      const check = await execute('redis-check-aof', [join(copy, 'appendonlydir/appendonly.aof.manifest')]);
      assert.equal(check.code, 0, `${check.stdout}${check.stderr}`);
      const started = performance.now();
      const redis = await startRedis(copy);
      const loadMs = performance.now() - started;
      const keys = await dbsize(redis.port);
      // Never fewer keys than an earlier copy (the benchmark deletes none); as many while it only pushes to its list.
      assert.ok(keys > 0 && keys >= previous, `copy ${i + 1}: ${keys} keys, after ${previous}`);
      previous = keys;
      await stopRedis(redis);
      console.log(`# copy ${i + 1}: redis-check-aof OK; loaded in ${Math.round(loadMs)} ms, ${keys} keys`);
    }
    assert.ok(
      previous <= (await dbsize((server as Redis).port)),
      'the server has at least the last copy’s keys',
    );
  });
});
