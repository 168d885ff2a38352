import { Command, Option } from 'commander';
import { loadConfig, settingsFor } from '../config/config-file.js';
import { EXPIRY_LIMIT, parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { planInstall, planUninstall, type HookDeps } from '../hooks/install.js';
import { realHostServices } from '../hooks/broker-units.js';
import { DEVICE_NAME, GUARD_LOG, HOOK_MODES, type HookMode } from '../hooks/layout.js';
import { stateDir } from '../config/paths.js';
import { addBrokerCommand } from './hook-broker-command.js';
import { applyPlan, couldNotStart, type HookOutcome } from '../hooks/plan.js';
import { describeUnits, readHookStatus, type HookStatus } from '../hooks/status.js';
import { parseInstanceRef } from '../lxd/names.js';
import { EXIT } from '../report/exit-codes.js';
import { BUILT_IN, resolveChecks } from './run-options.js';
import { collect, lxdFor, version } from './shared.js';
import type { Io } from './io.js';

const EXIT_CODES = 'Exit codes: 0 done (or nothing to do), 2 bad input (nothing changed), 3 could not start: an instance missing, stopped or without apt, LXD unreachable, a prerequisite missing (nothing changed), 4 stopped half-way (what was done is listed; run it again).';

interface InstallFlags {
  mode: HookMode;
  project?: string;
  check: string[];
  config?: string;
  /** false with --no-expiry. */
  expiry?: string | false;
  disableTimers?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** hooks install, uninstall, status: safeupdate's apt hooks inside instances (hooks/apt). */
export function addHooksCommands(program: Command, io: Io, trailing: string[] | null, setExitCode: (code: number) => void): void {
  const noCommand = (name: string) => {
    if (trailing !== null) throw new UsageError(`hooks ${name} takes no command after "--"`);
  };
  const deps = (): HookDeps => ({ lxd: lxdFor(io), version, stateDir: stateDir(io.env), services: realHostServices(), env: io.env });

  const hooks = program
    .command('hooks')
    .description('apt hooks inside instances: refuse apt typed inside (guard), or snapshot before dpkg changes anything (snapshot)');

  hooks
    .command('install')
    .description('install the apt hook in instances, or bring it up to date; running it again changes nothing')
    .argument('<instance...>', '[remote:]name')
    .addOption(new Option('--mode <mode>', 'guard: dpkg runs only under safeupdate from the host; snapshot: LXD snapshots the instance before dpkg runs').choices(HOOK_MODES).default('guard'))
    .option('--project <name>', 'the LXD project of the instances')
    .option('--check <spec>', 'snapshot mode: a check after dpkg, repeatable (unit:, exec:; systemd always where it runs); replaces the configured checks', collect, [])
    .option('--config <file>', 'config file for the instances\' checks and expiry (default ./safeupdate.yaml, then /etc/safeupdate/config.yaml)')
    .option('--expiry <duration>', `snapshot mode: when LXD deletes the hook's snapshots (default ${BUILT_IN.expiry})`)
    .option('--no-expiry', "snapshot mode: keep the hook's snapshots until they are deleted")
    .option('--disable-timers', "also disable the instance's own apt-daily.timer, apt-daily-upgrade.timer and unattended-upgrades")
    .option('--dry-run', 'say what would change; change nothing')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', `
Examples:
  safeupdate hooks install web1                        # guard: apt typed inside web1 is refused
  safeupdate hooks install web1 db1 --disable-timers
  safeupdate hooks install web1 --mode snapshot --check unit:nginx --expiry 7d

Guard mode refuses dpkg runs through apt that safeupdate did not start from the host, and names
the host command to use. A one-time bypass inside (logged): apt-get -o SafeUpdate::Allow=1 ...,
or /usr/local/lib/safeupdate/allow-once. Snapshot mode puts no credential inside: the proxy device
${DEVICE_NAME} connects a root-only socket inside to this instance's own broker on the host
(safeupdate-hook@.socket), which can take a snapshot of this instance and record the checks'
result, nothing else. Instances of the local daemon only. See docs/hooks.md.

${EXIT_CODES}`)
    .action(async (instances: string[], flags: InstallFlags, self: Command) => {
      noCommand('install');
      const given = self.getOptionValueSource('expiry') === 'cli';
      if (flags.mode === 'guard' && (flags.check.length || given)) {
        throw new UsageError('--check, --expiry and --no-expiry are for --mode snapshot; the guard takes no snapshot and runs no checks');
      }
      const config = await loadConfig(flags.config);
      const targets = instances.map((text) => {
        const settings = settingsFor(config, text);
        const expiry = given ? flags.expiry : settings.expiry === 'never' ? false : (settings.expiry ?? BUILT_IN.expiry);
        return {
          text,
          ref: parseInstanceRef(text, flags.project ?? null),
          checks: resolveChecks(flags.check, settings),
          expiryMs: expiry === false || expiry === undefined ? null : parseDuration(expiry, '--expiry', EXPIRY_LIMIT),
        };
      });
      const outcomes: HookOutcome[] = [];
      for (const target of targets) {
        let outcome: HookOutcome;
        try {
          const plan = await planInstall(deps(), target, { mode: flags.mode, disableTimers: flags.disableTimers ?? false });
          outcome = await applyPlan(plan, { dryRun: flags.dryRun ?? false, retry: `run "safeupdate hooks install ${target.text}" again to finish, or "safeupdate hooks uninstall ${target.text}" to undo` });
        } catch (error) {
          outcome = couldNotStart(target.text, error);
        }
        outcomes.push(outcome);
      }
      report(io, 'install', outcomes, flags.json ?? false);
      setExitCode(worst(outcomes.map((o) => o.exitCode)));
    });

  hooks
    .command('uninstall')
    .description("remove the apt hook from instances: its files, records and log, the proxy device, the trust entry; apt's timers that install disabled are enabled again")
    .argument('<instance...>', '[remote:]name')
    .option('--project <name>', 'the LXD project of the instances')
    .option('--dry-run', 'say what would be removed; remove nothing')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', `\nExamples:\n  safeupdate hooks uninstall web1\n  safeupdate hooks uninstall backup:db1 --project prod --dry-run\n\n${EXIT_CODES}`)
    .action(async (instances: string[], flags: { project?: string; dryRun?: boolean; json?: boolean }) => {
      noCommand('uninstall');
      const targets = instances.map((text) => ({ text, ref: parseInstanceRef(text, flags.project ?? null) }));
      const outcomes: HookOutcome[] = [];
      for (const target of targets) {
        let outcome: HookOutcome;
        try {
          outcome = await applyPlan(await planUninstall(deps(), target), { dryRun: flags.dryRun ?? false, retry: `run "safeupdate hooks uninstall ${target.text}" again` });
        } catch (error) {
          outcome = couldNotStart(target.text, error);
        }
        outcomes.push(outcome);
      }
      report(io, 'uninstall', outcomes, flags.json ?? false);
      setExitCode(worst(outcomes.map((o) => o.exitCode)));
    });

  hooks
    .command('status')
    .description("which hook an instance has, whether its files are this safeupdate's version, and what the hook's last run recorded")
    .argument('<instance...>', '[remote:]name')
    .option('--project <name>', 'the LXD project of the instances')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  safeupdate hooks status web1\n  safeupdate hooks status web1 db1 --json\n\nExit codes: 0 reported (problems are listed, not an exit code), 2 bad input, 3 could not look (an instance missing or stopped, LXD unreachable).')
    .action(async (instances: string[], flags: { project?: string; json?: boolean }) => {
      noCommand('status');
      const targets = instances.map((text) => ({ text, ref: parseInstanceRef(text, flags.project ?? null) }));
      const statuses: HookStatus[] = [];
      for (const target of targets) statuses.push(await readHookStatus(deps(), target));
      if (flags.json) io.stdout(`${JSON.stringify({ instances: statuses }, null, 2)}\n`);
      else for (const status of statuses) renderStatus(io, status);
      setExitCode(worst(statuses.map((s) => s.exitCode)));
    });

  addBrokerCommand(hooks, io, setExitCode);
}

/** Needs a human over could not start over done. */
function worst(codes: number[]): number {
  return codes.includes(EXIT.needsHuman) ? EXIT.needsHuman : codes.includes(EXIT.couldNotStart) ? EXIT.couldNotStart : EXIT.ok;
}

function report(io: Io, action: string, outcomes: HookOutcome[], json: boolean): void {
  if (json) {
    io.stdout(`${JSON.stringify({ action, instances: outcomes }, null, 2)}\n`);
    return;
  }
  for (const outcome of outcomes) {
    const lines = [...outcome.changes.map((change) => `  ${change}`), ...outcome.notes.map((note) => `  note: ${note}`)].join('\n');
    if (outcome.exitCode === EXIT.ok) io.stdout(`${outcome.instance}: ${outcome.summary}\n${lines ? `${lines}\n` : ''}`);
    else io.stderr(`safeupdate: ${outcome.instance}: ${outcome.summary}\n${lines ? `${lines}\n` : ''}`);
  }
}

function renderStatus(io: Io, status: HookStatus): void {
  if (status.error) {
    io.stderr(`safeupdate: ${status.instance}: ${status.error}\n`);
    return;
  }
  const lines: string[] = [];
  if (status.mode === null) {
    lines.push(`${status.instance}: no hook installed`);
  } else {
    const versions = [...new Set(status.files.map((file) => file.version ?? 'none'))].join(', ') || 'none';
    lines.push(`${status.instance}: ${status.mode} hook, files ${versions} (this safeupdate: ${status.packageVersion}): ${status.upToDate ? 'up to date' : 'needs attention'}`);
    if (status.device) lines.push(`  proxy device ${DEVICE_NAME}: ${status.device.listen} inside -> ${status.device.connect} on the host`);
    if (status.broker) lines.push(`  broker ${status.broker.key}: ${status.broker.registered ? 'registered on this host' : 'NOT registered on this host'}, socket unit ${status.broker.socketUnit}`);
    for (const leftover of status.insecureLeftovers) lines.push(`  INSECURE leftover of the old snapshot mode: ${leftover}`);
  }
  lines.push(`  apt timers: ${describeUnits(status.units)}${status.disabledByInstall.length ? ` (hooks install disabled ${status.disabledByInstall.join(', ')})` : ''}`);
  const run = status.lastRun;
  if (run) {
    const v = run.values;
    lines.push(`  last hook run: ${v.started ?? '?'}${v.finished ? ` to ${v.finished}` : ' (not finished)'}, ${v.user ?? '?'}: ${v.command ?? '?'}`);
    if (v.snapshot_result) lines.push(`    snapshot: ${v.snapshot_result === 'taken' ? `${v.snapshot} taken (${v.snapshot_seconds ?? '?'}s)` : v.snapshot_result}`);
    if (v.checks_result) lines.push(`    checks: ${v.checks_result}`);
    for (const check of run.checks) lines.push(`      ${check.status.padEnd(7)} ${check.name}: ${check.message}`);
  } else if (status.mode === 'snapshot') {
    lines.push('  last hook run: none recorded');
  }
  if (status.recentLog.length) lines.push(`  ${GUARD_LOG} (last ${status.recentLog.length}):`, ...status.recentLog.map((line) => `    ${line}`));
  for (const problem of status.problems) lines.push(`  problem: ${problem}`);
  io.stdout(`${lines.join('\n')}\n`);
}
