#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (no build step).
// libtensorflow's start-up banner (CPU features, oneDNN) is noise on a CLI; FRAUDOPS users can still set it.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
