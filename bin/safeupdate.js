#!/usr/bin/env node
import { readFileSync } from 'node:fs';

// `--version` alone needs nothing of the tool: answered before the CLI (and its libraries) load.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  let version = null;
  try {
    version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    // Unreadable here: the CLI answers it, or fails with its own exit code (never Node's 1).
  }
  if (version) {
    process.stdout.write(`${version}\n`);
    process.exit(0);
  }
}

// One bundled module graph (scripts/bundle.mjs): a start that reads a few files, not ninety.
const { main, reportInternalError } = await import('../dist/bundle/main.js');

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
  code = await main(args, io);
} catch (error) {
  crash(error);
}
process.exit(code);
