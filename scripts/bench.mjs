#!/usr/bin/env node
// safeupdate against the bare `lxc` commands it replaces, on the lab's real daemon: medians of
// alternating runs, printed as Markdown tables (BENCHMARKS.md keeps the latest). A script, not a
// test: it measures and reports, it asserts nothing.
//
//   npm run bench                 all of it (about 25 minutes here: the fleet makes 32 instances per pool)
//   BENCH_RUNS=7 npm run bench    more runs per figure (default 5; the fleet runs BENCH_FLEET_RUNS, default 1)
//   BENCH_POOLS=labbtrfs          only these pools (default: default,labbtrfs)
//   BENCH_SECTIONS=fleet          only these sections (default: pools,startup,fleet); the fleet's own
//                                 settings (sizes, --parallel values) are in scripts/bench/fleet.mjs
//
// Every instance it makes is named subench-<pid>-… and deleted at the end, also after Ctrl+C.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFleetScaling, fleetDescription, printFleetTables } from './bench/fleet.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/safeupdate.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const POOLS = (process.env.BENCH_POOLS ?? 'default,labbtrfs').split(',');
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'pools,startup,fleet').split(','));
const PREFIX = `subench-${process.pid}`;
const made = new Set();

const lxc = (...args) => execFileSync('lxc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Wall time of a command in ms, and its output. */
function timed(file, args, env = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same work by hand, as a bash script: each `lxc` is one client process. */
function bash(script) {
  const run = timed('bash', ['-c', `set -e\n${script}`]);
  if (run.status !== 0) throw new Error(`by hand: exit ${run.status}: ${script}\n${run.stderr}`);
  return run;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

function launch(name, pool) {
  execFileSync(join(ROOT, 'scripts/lab'), ['launch', name, pool], { stdio: 'ignore' });
  made.add(name);
}

function dropSnapshots(name) {
  const snaps = JSON.parse(lxc('query', `/1.0/instances/${name}/snapshots`));
  for (const path of snaps) lxc('delete', `${name}/${path.split('/').at(-1)}`);
}

function cleanUp() {
  for (const name of made) spawnSync('lxc', ['delete', '--force', name], { stdio: 'ignore' });
  made.clear();
}
process.on('SIGINT', () => {
  cleanUp();
  process.exit(130);
});

function safeupdate(args, stateDir) {
  const run = timed('node', [BIN, '--json', ...args], { SAFEUPDATE_STATE_DIR: stateDir });
  let report = null;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    throw new Error(`safeupdate ${args.join(' ')} printed no report (exit ${run.status}):\n${run.stderr}`);
  }
  return { ...run, report };
}

/** The time from the failed update's end to the instance running and passing its check: the rollback's steps. */
function rollbackDowntime(report) {
  const steps = report.instances[0].steps;
  const after = steps.slice(steps.findIndex((step) => step.action === 'update') + 1);
  return after.reduce((sum, step) => sum + step.durationMs, 0);
}

/** The restart step and the after-update checks that judge the restarted instance. */
function restartAndChecks(report) {
  return report.instances[0].steps.filter((step) => step.action === 'restart' || step.action === 'after-update').reduce((sum, step) => sum + step.durationMs, 0);
}

const rows = [];
const row = (figure, pool, ours, hand, target, extra = '') => {
  const ratio = ours / hand;
  rows.push({ figure, pool, ours, hand, ratio, target, verdict: target === null ? '' : ratio <= target ? 'PASS' : 'MISS', extra });
};

function benchPool(pool, state) {
  const name = `${PREFIX}-${pool}`;
  launch(name, pool);
  const ours = { success: [], withReport: [], reportCalls: [], rollback: [], calls: [], processes: [], rollbackCalls: [], rollbackProcesses: [], restart: [], restartRun: [] };
  const hand = { success: [], rollback: [], restart: [] };
  for (let i = 0; i < RUNS; i += 1) {
    // (1) The success path: look, check, snapshot, update, check; the same work both ways.
    const run = safeupdate([name, '--no-package-report', '--check', 'exec:true', '--', 'true'], state);
    if (run.report.exitCode !== 0) throw new Error(`success path: exit ${run.report.exitCode}: ${run.stderr}`);
    ours.success.push(run.ms);
    ours.calls.push(run.report.lxd?.calls ?? NaN);
    ours.processes.push(run.report.lxd?.processes ?? NaN);
    dropSnapshots(name);
    hand.success.push(bash(`lxc query /1.0/instances/${name} >/dev/null; lxc exec ${name} -- true; lxc snapshot ${name} bench-hand; lxc exec ${name} -- true; lxc exec ${name} -- true`).ms);
    dropSnapshots(name);
    // (1b) The same as users run it, with the package report (two inventories, read beside the checks).
    const reported = safeupdate([name, '--check', 'exec:true', '--', 'true'], state);
    if (reported.report.exitCode !== 0) throw new Error(`success path with the package report: exit ${reported.report.exitCode}: ${reported.stderr}`);
    ours.withReport.push(reported.ms);
    ours.reportCalls.push(reported.report.lxd?.calls ?? NaN);
    dropSnapshots(name);

    // (2) Rollback downtime: a failed update, then back to the snapshot and passing its check.
    const failed = safeupdate([name, '--no-package-report', '--check', 'exec:true', '--', 'false'], state);
    if (failed.report.exitCode !== 1) throw new Error(`rollback: exit ${failed.report.exitCode}: ${failed.stderr}`);
    ours.rollback.push(rollbackDowntime(failed.report));
    ours.rollbackCalls.push(failed.report.lxd?.calls ?? NaN);
    ours.rollbackProcesses.push(failed.report.lxd?.processes ?? NaN);
    dropSnapshots(name);
    lxc('snapshot', name, 'bench-hand');
    hand.rollback.push(bash(`lxc stop -f ${name}; lxc restore ${name} bench-hand; lxc start ${name}; lxc exec ${name} -- true`).ms);
    dropSnapshots(name);

    // (3) --restart always: the restart and the checks after it, against `lxc restart` and the check typed by hand.
    const restarted = safeupdate([name, '--no-package-report', '--restart', 'always', '--check', 'exec:true', '--', 'true'], state);
    if (restarted.report.exitCode !== 0) throw new Error(`restart: exit ${restarted.report.exitCode}: ${restarted.stderr}`);
    ours.restart.push(restartAndChecks(restarted.report));
    ours.restartRun.push(restarted.ms);
    dropSnapshots(name);
    hand.restart.push(bash(`lxc restart ${name}; until lxc exec ${name} -- true 2>/dev/null; do sleep 0.5; done`).ms);
  }
  row('success path (`--check exec:true -- true`)', pool, median(ours.success), median(hand.success), pool === 'default' ? 1.02 : 1.0, `${median(ours.calls)} LXD calls, ${median(ours.processes)} client processes, vs 5 processes`);
  row('success path with the package report (as users run it)', pool, median(ours.withReport), median(hand.success), pool === 'default' ? 1.02 : 1.0, `${median(ours.reportCalls)} LXD calls; the hand script reads no inventory`);
  row('rollback downtime (failed update → running and passing)', pool, median(ours.rollback), median(hand.rollback), 1.0, `${median(ours.rollbackCalls)} LXD calls, ${median(ours.rollbackProcesses)} client processes per run, vs 4 processes`);
  row('`--restart always`: the restart and the checks after it', pool, median(ours.restart), median(hand.restart), 1.0, `the whole run ${fmt(median(ours.restartRun))}, against ${fmt(median(ours.success))} without the restart; by hand: lxc restart, then lxc exec true until it answers`);
  return name;
}

function benchStartup(name, state) {
  const node = [];
  const version = [];
  const help = [];
  const check = [];
  const handCheck = [];
  for (let i = 0; i < RUNS; i += 1) {
    node.push(timed('node', ['-e', '0']).ms);
    version.push(timed('node', [BIN, '--version']).ms);
    help.push(timed('node', [BIN, '--help']).ms);
    check.push(timed('node', [BIN, 'check', name, '--check', 'exec:true', '--json'], { SAFEUPDATE_STATE_DIR: state }).ms);
    handCheck.push(bash(`lxc query /1.0/instances/${name} >/dev/null; lxc exec ${name} -- true`).ms);
  }
  row('`safeupdate --version` vs `node -e 0`', '-', median(version), median(node), 1.3);
  row('`safeupdate --help` vs `node -e 0`', '-', median(help), median(node), 1.3);
  row('`safeupdate check` vs `lxc query` + `lxc exec` by hand', '-', median(check), median(handCheck), null);
}

function machine() {
  const lxd = spawnSync('lxd', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.versions.node}, LXD ${lxd}`;
}

let state = null;
try {
  state = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
  console.error(`bench: ${[...SECTIONS].join(', ')} on ${POOLS.join(', ')}; ${RUNS} runs per figure; ${fleetDescription()}`);
  let any = null;
  if (SECTIONS.has('pools')) {
    for (const pool of POOLS) {
      console.error(`bench: pool ${pool}`);
      any = benchPool(pool, state);
    }
  }
  if (SECTIONS.has('startup')) {
    // Run alone, the start-up section still needs an instance to check.
    if (!any) {
      any = `${PREFIX}-startup`;
      launch(any, POOLS[0]);
    }
    console.error('bench: start-up');
    benchStartup(any, state);
  }
  const fleets = [];
  if (SECTIONS.has('fleet')) {
    for (const pool of POOLS) {
      const fleet = benchFleetScaling({ root: ROOT, bin: BIN, prefix: PREFIX, state, made }, pool);
      if (fleet.summary) rows.push(fleet.summary);
      fleets.push(fleet);
    }
  }
  console.log(`Machine: ${machine()}. Medians of ${RUNS} alternating runs; ${fleetDescription()}.\n`);
  console.log('| figure | pool | safeupdate | by hand / baseline | ratio | target | verdict | notes |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const target = r.target === null ? '-' : `≤ ${r.target.toFixed(2)}`;
    console.log(`| ${r.figure} | ${r.pool} | ${fmt(r.ours)} | ${fmt(r.hand)} | ${r.ratio.toFixed(2)} | ${target} | ${r.verdict} | ${r.extra} |`);
  }
  if (fleets.length) printFleetTables(fleets);
} finally {
  cleanUp();
  if (state) rmSync(state, { recursive: true, force: true });
}
