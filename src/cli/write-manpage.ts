/** Writes dist/treefreeze.1 from the command definitions; `npm run build` runs it after tsc. */
import { writeFileSync } from 'node:fs';
import { manPage } from './manpage.js';
import { buildProgram } from './program.js';
import { packageVersion } from './version.js';

writeFileSync(
  new URL('../treefreeze.1', import.meta.url),
  manPage(
    buildProgram(() => {}),
    packageVersion(),
  ),
);
