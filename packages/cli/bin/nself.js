#!/usr/bin/env node
// Entry point of the `nself` command: runs the compiled command line.
import { main } from '../dist/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`nself: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
