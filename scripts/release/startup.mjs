// Start-up of the single executable against the npm package installed with npm (its bin on the
// host's Node): `--version` and `--help`, alternating, medians; and each one's bare Node (`-e 0`)
// for scale. Printed, not asserted.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBinary } from './node-binary.mjs';

const RUNS = Number(process.env.STARTUP_RUNS ?? 20);

function millis(command, args) {
  const started = process.hrtime.bigint();
  const run = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function compareStartup({ tarball, executable, node24, workDir, log }) {
  const prefix = join(workDir, 'npm-prefix');
  execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', tarball], { stdio: ['ignore', 'ignore', 'inherit'] });
  const installed = join(prefix, 'node_modules/.bin/safeupdate');
  const node = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
  const rows = [];
  const cases = [
    { title: 'safeupdate --version', npm: [installed, ['--version']], executable: [executable, ['--version']] },
    { title: 'safeupdate --help', npm: [installed, ['--help']], executable: [executable, ['--help']] },
    { title: 'bare Node: node -e 0', npm: ['node', ['-e', '0']], executable: [node24, ['-e', '0']] },
  ];
  for (const { title, ...pair } of cases) {
    const times = { npm: [], executable: [] };
    // One run of each first, unmeasured: the page cache holds both afterwards.
    millis(...pair.npm);
    millis(...pair.executable);
    for (let i = 0; i < RUNS; i++) {
      times.npm.push(millis(...pair.npm));
      times.executable.push(millis(...pair.executable));
    }
    rows.push({ title, npm: median(times.npm), executable: median(times.executable) });
  }
  log(`start-up, medians of ${RUNS} alternating runs: npm package on the host's Node ${node} | single executable (Node 24)`);
  for (const row of rows) log(`  ${row.title.padEnd(22)} ${row.npm.toFixed(0).padStart(5)} ms | ${row.executable.toFixed(0).padStart(5)} ms`);
  return rows;
}

// Run directly: the comparison of the artefacts in release/ (npm run release builds them).
if (import.meta.url === `file://${process.argv[1]}`) {
  const out = new URL('../../release/', import.meta.url).pathname;
  const info = JSON.parse(readFileSync(join(out, 'BUILD-INFO.json'), 'utf8'));
  const named = (pattern) => join(out, info.artefacts.find((name) => pattern.test(name)));
  const workDir = mkdtempSync(join(tmpdir(), 'safeupdate-startup-'));
  try {
    await compareStartup({ tarball: named(/\.tgz$/), executable: named(/-linux-x64$/), node24: nodeBinary().binary, workDir, log: (text) => process.stderr.write(`${text}\n`) });
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
