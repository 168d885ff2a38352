// The fleet section of `npm run bench`: does a fleet scale? Fleets of N = 1, 8 and 32 copies of one
// prepared lab container, each updated with `-- sleep 1` at --parallel 1, 8 and 16 (capped at N:
// --parallel 16 on 8 instances is --parallel 8 again). Per run: the wall time, the wall time per
// instance, the LXD calls per instance (the JSON report counts the whole run's calls; the
// selection's one listing is in them, so a flat cost per instance shows as slowly falling), and
// the client's CPU time (user + system of node and of any `lxc` process it waited for, from
// /usr/bin/time). It measures and prints; it asserts nothing. An instance whose run takes longer
// than 15 s also renews its server lease (a read and a write each quarter of its 60 s): a few calls
// more per instance on a slow pool or under load, by its own duration, never by the fleet's size.
//
//   BENCH_FLEET_SIZES=1,8,32      the fleet sizes (default)
//   BENCH_FLEET_PARALLEL=1,8,16   the --parallel values (default)
//   BENCH_FLEET_RUNS=1            runs of each figure (the median is shown)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const SIZES = (process.env.BENCH_FLEET_SIZES ?? '1,8,32').split(',').map(Number);
const PARALLEL = (process.env.BENCH_FLEET_PARALLEL ?? '1,8,16').split(',').map(Number);
const RUNS = Number(process.env.BENCH_FLEET_RUNS ?? 1);
// The speed-up the issue asks of the biggest fleet at --parallel 8 against --parallel 1, on btrfs only:
// a dir pool copies the whole root file system for each snapshot and is bound by its disk.
const TARGET = { pool: 'labbtrfs', parallel: 8, speedUp: 6 };

const lxc = (...args) => execFileSync('lxc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
const percent = (share) => `${Math.round(share * 100)} %`;
const load = () => loadavg().map((value) => value.toFixed(1)).join(' ');

/**
 * One prepared container (the lab's, demo installed and booted), stopped, and N copies of it: on
 * btrfs a copy is a subvolume snapshot, far quicker than a launch from the image. Every name goes
 * into `made` before it exists, so Ctrl+C deletes it.
 */
function makeFleet({ root, prefix, pool, made }, size) {
  const base = `${prefix}-fbase-${pool}`;
  if (!made.has(base)) {
    made.add(base);
    execFileSync(join(root, 'scripts/lab'), ['launch', base, pool], { stdio: 'ignore' });
    lxc('stop', '--force', base);
  }
  const names = Array.from({ length: size }, (_, i) => `${prefix}-f${size}-${pool}-${i}`);
  for (const name of names) {
    made.add(name);
    lxc('copy', base, name, '--storage', pool);
  }
  // One start each, bounded: here one `lxc start` of 32 names once hung for minutes after every
  // instance was running (its client waited on an operation that had ended).
  for (const name of names) {
    spawnSync('lxc', ['start', name], { stdio: 'ignore', timeout: 60_000 });
    const status = JSON.parse(lxc('query', `/1.0/instances/${name}`)).status;
    if (status !== 'Running') throw new Error(`fleet: ${name} is ${status} after lxc start`);
  }
  // Ready when systemd has booted, as `scripts/lab launch` waits: the fleet's check is an exec.
  for (const name of names) {
    for (let i = 0; ; i += 1) {
      const ready = spawnSync('lxc', ['exec', name, '--', 'systemctl', 'is-system-running', '--wait'], { stdio: 'ignore', timeout: 60_000 });
      if (ready.status === 0 || i >= 50) break;
      spawnSync('sleep', ['0.2']);
    }
  }
  return names;
}

function dropFleet(names, made) {
  for (const name of names) {
    spawnSync('lxc', ['delete', '--force', name], { stdio: 'ignore' });
    made.delete(name);
  }
}

function dropSnapshots(name) {
  for (const path of JSON.parse(lxc('query', `/1.0/instances/${name}/snapshots`))) lxc('delete', `${name}/${path.split('/').at(-1)}`);
}

// Where the CPU went during a run, to tell a busy client from a busy daemon or a busy machine:
// the LXD daemon's own CPU time (with the hooks and forks it waited for), and the machine's
// busy and iowait shares, both from /proc (clock ticks of 10 ms, Linux's USER_HZ). The daemon's
// figure includes whatever else it served meanwhile: on a shared lab, other people's tests.
const TICK_MS = 10;
const lxdPid = () => JSON.parse(lxc('query', '/1.0')).environment.server_pid;

function cpuSample(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // After the name: utime, stime, cutime, cstime are fields 14-17 of stat(5), here 11-14 from 0.
  const daemon = fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return { daemon, idle, iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

function cpuSince(before, pid) {
  const after = cpuSample(pid);
  const total = after.total - before.total;
  return {
    lxdCpuMs: (after.daemon - before.daemon) * TICK_MS,
    busy: 1 - (after.idle - before.idle + after.iowait - before.iowait) / total,
    iowait: (after.iowait - before.iowait) / total,
  };
}

/** The daemon's CPU share while this bench asks nothing of it: what others (tests, other daemons' clients) cost it meanwhile. */
function daemonAtRest(ms = 10_000) {
  const pid = lxdPid();
  const before = cpuSample(pid);
  spawnSync('sleep', [String(ms / 1000)]);
  return (cpuSample(pid).daemon - before.daemon) * TICK_MS / ms;
}

/** One fleet run under /usr/bin/time: its wall time, the client's CPU time, and its JSON report. */
function runFleet({ bin, state }, names, parallel) {
  const dir = mkdtempSync(join(tmpdir(), 'subench-time-'));
  try {
    const timeFile = join(dir, 'time');
    const args = ['-f', '%U %S', '-o', timeFile, 'node', bin, '--json', ...names, '--parallel', String(parallel), '--no-package-report', '--check', 'exec:true', '--', 'sleep', '1'];
    const pid = lxdPid();
    const cpuBefore = cpuSample(pid);
    const started = process.hrtime.bigint();
    const run = spawnSync('/usr/bin/time', args, { encoding: 'utf8', env: { ...process.env, SAFEUPDATE_STATE_DIR: state }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const cpu = cpuSince(cpuBefore, pid);
    let report;
    try {
      report = JSON.parse(run.stdout);
    } catch {
      throw new Error(`fleet of ${names.length} --parallel ${parallel} printed no report (exit ${run.status}):\n${run.stderr}`);
    }
    if (report.exitCode !== 0) throw new Error(`fleet of ${names.length} --parallel ${parallel}: exit ${report.exitCode}:\n${run.stderr}`);
    // /usr/bin/time writes "Command exited with non-zero status" first when it did; the last line has the times.
    const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
    return { ms, cpuMs: (user + system) * 1000, ...cpu, calls: report.lxd?.calls ?? NaN, processes: report.lxd?.processes ?? NaN, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The mean duration of each step over the instances of a run: where the time goes when it does not scale. */
function stepMeans(report) {
  const sums = new Map();
  for (const instance of report.instances) {
    for (const step of instance.steps ?? []) {
      const [sum, count] = sums.get(step.action) ?? [0, 0];
      sums.set(step.action, [sum + (step.durationMs ?? 0), count + 1]);
    }
  }
  const means = new Map([...sums].map(([action, [sum, count]]) => [action, sum / count]));
  // Lock, lease, unlock and the report are no step: what the instance took beyond its steps.
  const whole = report.instances.reduce((sum, instance) => sum + (instance.durationMs ?? 0), 0) / report.instances.length;
  means.set('(lock, lease, unlock: outside the steps)', whole - [...means.values()].reduce((sum, ms) => sum + ms, 0));
  means.set('(the whole instance)', whole);
  return means;
}

/**
 * Measures one pool: each fleet size made, run at each --parallel (fewer than N only; N itself
 * once), deleted. Returns the rows of the table, the summary row for the main table, and the
 * steps of the biggest fleet serial and at the target's --parallel.
 */
export function benchFleetScaling(lab, pool) {
  const results = [];
  const steps = {};
  const atRest = daemonAtRest();
  for (const size of SIZES) {
    const names = makeFleet({ ...lab, pool }, size);
    const parallels = [...new Set(PARALLEL.map((p) => Math.min(p, size)))];
    const runs = new Map(parallels.map((p) => [p, []]));
    console.error(`bench: fleet of ${size} on ${pool}, --parallel ${parallels.join(', ')} (load ${load()})`);
    for (let i = 0; i < RUNS; i += 1) {
      for (const parallel of parallels) {
        const loadBefore = loadavg()[0];
        const run = runFleet(lab, names, parallel);
        runs.get(parallel).push({ ...run, load: (loadBefore + loadavg()[0]) / 2 });
        // Each figure as it comes: a run that fails later still leaves these.
        console.error(`bench:   N=${size} --parallel ${parallel}: ${seconds(run.ms)}, ${(run.calls / size).toFixed(1)} LXD calls/instance, client CPU ${seconds(run.cpuMs)}, LXD CPU ${seconds(run.lxdCpuMs)}, machine ${percent(run.busy)} busy (load ${load()})`);
        if (size === Math.max(...SIZES) && (parallel === 1 || parallel === Math.min(TARGET.parallel, size))) steps[parallel] = stepMeans(run.report);
        for (const name of names) dropSnapshots(name);
      }
    }
    for (const [parallel, list] of runs) {
      const pick = (key) => median(list.map((run) => run[key]));
      results.push({ pool, size, parallel, ...Object.fromEntries(['ms', 'cpuMs', 'lxdCpuMs', 'busy', 'iowait', 'calls', 'processes', 'load'].map((key) => [key, pick(key)])) });
    }
    dropFleet(names, lab.made);
  }
  return { pool, results, summary: summaryRow(pool, results), steps, atRest };
}

/** The row of the main table: the biggest fleet at the target's --parallel against --parallel 1. */
function summaryRow(pool, results) {
  const size = Math.max(...SIZES);
  const serial = results.find((r) => r.size === size && r.parallel === 1);
  const parallel = results.find((r) => r.size === size && r.parallel === Math.min(TARGET.parallel, size));
  if (!serial || !parallel) return null;
  const speedUp = serial.ms / parallel.ms;
  const targeted = pool === TARGET.pool;
  return {
    figure: `fleet of ${size} (\`-- sleep 1\`): \`--parallel ${parallel.parallel}\` vs \`--parallel 1\``, pool, ours: parallel.ms, hand: serial.ms, ratio: parallel.ms / serial.ms,
    target: targeted ? 1 / TARGET.speedUp : null, verdict: targeted ? (speedUp >= TARGET.speedUp ? 'PASS' : 'MISS') : '',
    extra: `speed-up ${speedUp.toFixed(2)}×${targeted ? '' : ' (bound by the disk: no target)'}`,
  };
}

/** The fleet's own tables, in Markdown. */
export function printFleetTables(all) {
  console.log(`\nFleet scaling (\`-- sleep 1\`, \`--check exec:true\`; median of ${RUNS} run(s); load: the 1-minute load average around the run):\n`);
  for (const { pool, atRest } of all) console.log(`LXD daemon at rest on ${pool} before the fleet (others' work): ${percent(atRest)} of a core; a run's LXD CPU includes that much of its wall time.\n`);
  console.log('| pool | N | --parallel | wall | wall / instance | speed-up vs --parallel 1 | LXD calls / instance | client processes / instance | client CPU | client CPU / instance | LXD daemon CPU | machine busy | iowait | load |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of all.flatMap((pool) => pool.results)) {
    const serial = all.flatMap((pool) => pool.results).find((s) => s.pool === r.pool && s.size === r.size && s.parallel === 1);
    const speedUp = serial ? `${(serial.ms / r.ms).toFixed(2)}×` : '-';
    console.log(`| ${r.pool} | ${r.size} | ${r.parallel} | ${seconds(r.ms)} | ${seconds(r.ms / r.size)} | ${speedUp} | ${(r.calls / r.size).toFixed(1)} | ${(r.processes / r.size).toFixed(1)} | ${seconds(r.cpuMs)} | ${seconds(r.cpuMs / r.size)} | ${seconds(r.lxdCpuMs)} | ${percent(r.busy)} | ${percent(r.iowait)} | ${r.load.toFixed(1)} |`);
  }
  for (const { pool, steps } of all) {
    const parallels = Object.keys(steps).map(Number).sort((a, b) => a - b);
    if (parallels.length < 2) continue;
    const actions = [...new Set(parallels.flatMap((p) => [...steps[p].keys()]))];
    console.log(`\nWhere an instance's time goes, fleet of ${Math.max(...SIZES)} on ${pool} (mean per instance):\n`);
    console.log(`| step | ${parallels.map((p) => `--parallel ${p}`).join(' | ')} |`);
    console.log(`| --- | ${parallels.map(() => '---').join(' | ')} |`);
    for (const action of actions) console.log(`| ${action} | ${parallels.map((p) => (steps[p].has(action) ? `${Math.round(steps[p].get(action))} ms` : '-')).join(' | ')} |`);
  }
}

export function fleetDescription() {
  return `fleet sizes ${SIZES.join(', ')} at --parallel ${PARALLEL.join(', ')}, ${RUNS} run(s) each`;
}
