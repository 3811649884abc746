#!/usr/bin/env node
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
