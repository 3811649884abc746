/**
 * The C floor (test/fixture/floor.c) as a bench contender: the fastest a signal freezer can be,
 * a warm C process given the tree's pids in advance that times itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { floorPath } from '../test/fixture/fixture.js';
import type { Contender } from './contender.js';
import { allStopped, track } from './trees.js';

/**
 * The C floor, kept running for one tree: it knows the pids in advance and times itself,
 * so neither its start nor this pipe is counted.
 */
class Floor {
  readonly #child: ChildProcess;
  #buffered = '';
  readonly #waiting: ((line: string) => void)[] = [];

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stdout?.on('data', (data: Buffer) => {
      this.#buffered += data.toString();
      for (let end = this.#buffered.indexOf('\n'); end >= 0; end = this.#buffered.indexOf('\n')) {
        const line = this.#buffered.slice(0, end);
        this.#buffered = this.#buffered.slice(end + 1);
        this.#waiting.shift()?.(line);
      }
    });
  }

  static async start(pids: number[]): Promise<Floor> {
    const child = spawn(floorPath(), pids.map(String), { stdio: ['pipe', 'pipe', 'inherit'] });
    track(child);
    const floor = new Floor(child);
    await floor.#next(); // "ready"
    return floor;
  }

  #next(): Promise<string> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Sends F (freeze) or T (thaw); the milliseconds the floor measured. */
  async run(command: 'F' | 'T'): Promise<number> {
    const reply = this.#next();
    this.#child.stdin?.write(`${command}\n`);
    return Number(await reply);
  }

  stop(): void {
    this.#child.stdin?.end();
  }
}

export const floorContender: Contender = {
  name: 'floor',
  async enter(_root, pids) {
    const floor = await Floor.start(pids);
    return {
      // The floor's own clock, not ours: its times exclude the pipe.
      async freezeAndThaw() {
        const freezeMs = await floor.run('F');
        if (!allStopped(pids)) throw new Error('the floor returned before every task stopped');
        return { freezeMs, thawMs: await floor.run('T') };
      },
      close: () => floor.stop(),
    };
  },
};
