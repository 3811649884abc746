#!/usr/bin/env -S node --max-semi-space-size=1
// A young generation of 1 MiB per half (V8 grows it to 8 MiB here): a command that lives a
// second needs no more, and a 1000-process `run` then peaks at ~60 MiB instead of ~65.
import module from 'node:module';

// Node 22.1 and later keep the compiled code of the modules below on disk (in os.tmpdir()), so
// the next start skips compiling them; older runtimes have no such cache and go on as before.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
if (process.argv[2] === '__complete') {
  // Asked by the shell completion scripts at every Tab: only what that needs is loaded.
  const { printCompletionOperands } = await import('./cli/complete-operands.js');
  printCompletionOperands(process.argv[3]);
} else {
  const { main } = await import('./cli/program.js');
  process.exitCode = await main(process.argv);
}
