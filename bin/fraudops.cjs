#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (no build step).
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
