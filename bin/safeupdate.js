#!/usr/bin/env node
import { main, reportInternalError } from '../dist/cli/main.js';

// After SIGHUP the terminal is gone: a failed write must not end the run before it has rolled back.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

const write = (stream) => (text) => {
  try {
    stream.write(text);
  } catch {
    /* the terminal is gone */
  }
};

const io = {
  stdout: write(process.stdout),
  stderr: write(process.stderr),
  terminal: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  env: process.env,
};
const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');

// Whatever nobody foresaw ends with 3 (nothing changed) or 4 (an instance may have changed, its
// record kept for recover): never Node's 1, which the contract reserves for "rolled back and healthy".
const crash = (error) => process.exit(reportInternalError(error, io, verbose));
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

let code;
try {
  code = await main(process.argv.slice(2), io);
} catch (error) {
  crash(error);
}
process.exit(code);
