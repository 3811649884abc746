/**
 * The CPU one prepared holder spends on its freeze: from the order "freeze" on its standard input
 * to its frozen event, on a fleet test host's service shape (two processes of two threads), measured
 * from /proc/<pid>/schedstat (ns on a CPU) of the holder and of every process it started. A fleet
 * whose hosts share C cores, ordered all at once, cannot freeze its last host sooner than about
 * hosts × this / C after the order: that is the floor under freezeFleet's spread on the test hosts.
 *
 *   node --import tsx bench/measurements/freeze-cpu.ts [runs, default 10]
 */

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fixturePath } from '../../test/fixture/fixture.js';
import { cliPath } from '../../test/helpers/cli.js';

const runs = Number(process.argv[2] ?? 10);

/** ns on a CPU of `pid` and of its live descendants (threads included: schedstat is per process). */
function cpuNs(pid: number): number {
  const all = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  const parent = new Map<number, number>();
  for (const entry of all) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number((stat.split(') ')[1] ?? '').split(' ')[1]));
    } catch {
      // gone
    }
  }
  const mine = (p: number): boolean => p === pid || (parent.has(p) && p > 1 && mine(parent.get(p) as number));
  let total = 0;
  for (const p of parent.keys()) {
    if (!mine(p)) continue;
    try {
      total += Number(readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // gone
    }
  }
  return total;
}

const waitFor = async (condition: () => boolean) => {
  const until = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

const costs: number[] = [];
for (let run = 0; run < runs; run++) {
  const service = spawn(fixturePath(), ['comm', 'tfcpu'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => service.stdout?.once('data', resolve));
  const holder = spawn(
    process.execPath,
    [
      cliPath,
      'freeze',
      String(service.pid),
      '--prepare',
      '--until-stdin-closes',
      '--max-hold',
      '1m',
      '--json',
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  let out = '';
  holder.stdout?.on('data', (data) => {
    out += data;
  });
  await waitFor(() => out.includes('"prepared"'));
  await new Promise((resolve) => setTimeout(resolve, 200)); // settled: nothing left of the preparation
  const before = cpuNs(holder.pid as number);
  holder.stdin?.write('freeze\n');
  await waitFor(() => out.includes('"frozen"'));
  costs.push((cpuNs(holder.pid as number) - before) / 1e6);
  holder.stdin?.end();
  await new Promise((resolve) => holder.once('close', resolve));
  service.kill('SIGKILL');
}
const sorted = [...costs].sort((a, b) => a - b);
console.log(
  `CPU of one prepared holder's freeze (order to frozen event), ${runs} runs: median ${sorted[Math.floor(runs / 2)]?.toFixed(1)} ms (${sorted[0]?.toFixed(1)}–${sorted.at(-1)?.toFixed(1)})`,
);
