#!/usr/bin/env node
// Entry point. Checks the runtime before loading anything else, so an old
// Node.js gets a clear sentence rather than a syntax error.
import { canStripTypes, runtimeProblem } from './runtime.js';

if (!canStripTypes()) {
  const problem = runtimeProblem(process.versions.node) ?? `Node.js ${process.versions.node}`;
  process.stderr.write(
    `ocomms-guard: GUARD_ERR_RUNTIME_UNSUPPORTED: ${problem}.\n` +
      'Run it through npm (npm start, npx ocomms-guard), which uses the Node.js this\n' +
      'project installs, or install a supported Node.js.\n',
  );
  process.exit(1);
}

const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
