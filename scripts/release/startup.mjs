// Start-up of the single executable against the npm package installed with npm (its bin on the
// host's Node): `--version` and `--help`, alternating, medians. Printed, not asserted.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const RUNS = Number(process.env.STARTUP_RUNS ?? 20);

function millis(command, args) {
  const started = process.hrtime.bigint();
  const run = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function compareStartup({ tarball, executable, workDir, log }) {
  const prefix = join(workDir, 'npm-prefix');
  execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', tarball], { stdio: ['ignore', 'ignore', 'inherit'] });
  const installed = join(prefix, 'node_modules/.bin/safeupdate');
  const node = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
  const rows = [];
  for (const args of [['--version'], ['--help']]) {
    const times = { npm: [], executable: [] };
    // One run of each first, unmeasured: the page cache holds both afterwards.
    millis(installed, args);
    millis(executable, args);
    for (let i = 0; i < RUNS; i++) {
      times.npm.push(millis(installed, args));
      times.executable.push(millis(executable, args));
    }
    rows.push({ args: args.join(' '), npm: median(times.npm), executable: median(times.executable) });
  }
  log(`start-up, medians of ${RUNS} alternating runs: npm package on the host's Node ${node} | single executable (Node 24)`);
  for (const row of rows) log(`  safeupdate ${row.args.padEnd(10)} ${row.npm.toFixed(0).padStart(5)} ms | ${row.executable.toFixed(0).padStart(5)} ms`);
  return rows;
}
