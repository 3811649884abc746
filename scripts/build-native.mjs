// Builds the native core (native/core.c) into dist/native/ for `npm run build`. Without a C
// compiler it says so and leaves it out: treefreeze then runs its TypeScript path, which does
// the same work more slowly on large trees.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const source = new URL('../native/core.c', import.meta.url).pathname;
const outDir = new URL('../dist/native/', import.meta.url).pathname;
const output = `${outDir}libtreefreeze-core-${process.platform}-${process.arch}.so`;

if (process.platform !== 'linux') process.exit(0);
mkdirSync(outDir, { recursive: true });
const compiler = process.env.CC ?? 'cc';
try {
  execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', output, source], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
} catch (error) {
  const why = error.code === 'ENOENT' ? `no C compiler (${compiler})` : `${compiler} failed`;
  console.error(`treefreeze: the native core was not built: ${why}; the TypeScript path runs instead`);
}
