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
const { runAsProcess } = await import('../dist/bundle/process.js');
await runAsProcess(args);
