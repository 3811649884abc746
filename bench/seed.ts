/**
 * The seed (bench/seed/seed.rs) as a bench contender: crosvm vmm-swap's freezer in Rust, the
 * language it was written in, the same algorithm and faults as reference.ts. Kept warm like the
 * C floor and timing itself, so neither its start nor this pipe is counted; unlike the floor it
 * is given only the root and discovers the tree on every freeze, as the seed does.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Contender } from './contender.js';
import { allStopped, track } from './trees.js';

const source = join(dirname(fileURLToPath(import.meta.url)), 'seed', 'seed.rs');

/**
 * Compiles seed.rs into the temp directory under its source's hash, so a binary is reused until
 * the source changes. Null (said once on stderr) when rustc is missing or fails.
 */
async function compile(): Promise<string | null> {
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const binary = join(tmpdir(), `treefreeze-bench-seed-${hash}`);
  if (existsSync(binary)) return binary;
  // Built under another name and renamed, so an interrupted build is never taken for a binary.
  const partial = `${binary}.${process.pid}.partial`;
  try {
    await promisify(execFile)('rustc', ['-O', '--edition', '2021', '-o', partial, source]);
    renameSync(partial, binary);
    return binary;
  } catch (error) {
    rmSync(partial, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'rustc is not on PATH' : `rustc failed: ${(error as Error).message}`;
    process.stderr.write(`seed contender skipped: ${why}\n`);
    return null;
  }
}

/** Once per bench run (per process): every tree shares the binary, or the skip. */
let compiled: Promise<string | null> | undefined;

/** The seed, kept running for one tree. Replies arrive one line per command, in order. */
class Seed {
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
    // A seed that dies answers everything still waiting, so the bench fails instead of hanging.
    child.once('exit', (code, sig) => {
      for (const resolve of this.#waiting.splice(0)) resolve(`exited (${code ?? sig})`);
    });
  }

  static async start(binary: string, root: number): Promise<Seed> {
    const child = spawn(binary, [String(root)], { stdio: ['pipe', 'pipe', 'inherit'] });
    track(child);
    const seed = new Seed(child);
    const ready = await seed.#next();
    if (ready !== 'ready') throw new Error(`seed did not start: ${ready}`);
    return seed;
  }

  #next(): Promise<string> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Sends F (freeze) or T (thaw); the milliseconds the seed measured. */
  async run(command: 'F' | 'T'): Promise<number> {
    const reply = this.#next();
    this.#child.stdin?.write(`${command}\n`);
    const line = await reply;
    const ms = Number(line);
    if (line === '' || !Number.isFinite(ms)) throw new Error(`seed ${command}: ${line}`);
    return ms;
  }

  stop(): void {
    this.#child.stdin?.end();
  }
}

export const seedContender: Contender = {
  name: 'seed',
  async enter(root, pids) {
    compiled ??= compile();
    const binary = await compiled;
    if (!binary) return null;
    const seed = await Seed.start(binary, root);
    return {
      // The seed's own clock, not ours: its times exclude the pipe.
      async freezeAndThaw() {
        const freezeMs = await seed.run('F');
        if (!allStopped(pids)) throw new Error('seed returned before every task stopped');
        return { freezeMs, thawMs: await seed.run('T') };
      },
      close: () => seed.stop(),
    };
  },
};
