#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

// After SIGHUP the terminal is gone: a failed write must not end the run before it has rolled back.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

const write = (stream) => (text) => {
  try {
    stream.write(text);
  } catch {
    /* the terminal is gone */
  }
};

const code = await main(process.argv.slice(2), {
  stdout: write(process.stdout),
  stderr: write(process.stderr),
  terminal: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  env: process.env,
});
process.exit(code);
