import { Command, CommanderError } from 'commander';
import { loadConfig, settingsFor } from '../config/config-file.js';
import { instanceMayHaveChanged, LxdError, UsageError } from '../errors.js';
import { parseInstanceRef } from '../lxd/names.js';
import { EXIT, EXIT_CODE_HELP } from '../report/exit-codes.js';
import { CorruptRecord, InstanceBusy } from '../state/instance-record.js';
import { LeaseBusy, UnreadableLease } from '../state/lease-takeover.js';
import { isFleet, runFleetCommand, withFleetOptions, type FleetFlags } from './fleet-command.js';
import { resolveChecks, runOptionsFor, type RunFlags } from './run-options.js';
import { bothFormsRefused, collect, INTERRUPT_RUN, lxdFor, version, withOutputOptions, withRun, type OutputFlags } from './shared.js';
import type { Io } from './io.js';
import { addHooksCommands } from './hooks-commands.js';
import { addRecordCommands } from './record-commands.js';
import { addSnapshotCommands } from './snapshot-commands.js';
import { chooseInstances, usesSelection, withSelectionOptions, type SelectionFlags } from './selection-options.js';
import { cannotCheck } from '../fleet/selection.js';
import { refuseStrayWords } from './stray-words.js';

export type { Io } from './io.js';

const RUN_EXAMPLES = `
Examples:
  safeupdate web1 -- apt-get upgrade -y
  safeupdate web1 --check unit:nginx --check http://127.0.0.1:8080/health -- apt-get upgrade -y
  safeupdate backup:db1 --project prod --expiry 7d -- sh -c 'apt-get update && apt-get -y dist-upgrade'
  safeupdate web1 --dry-run -- apt-get upgrade -y
  safeupdate web1 --refuse major --allow 'php8*' -- apt-get dist-upgrade -y
  safeupdate web1 --restart always --soak 2m -- apt-get upgrade -y   (judge the next boot, then watch it)

Checks: systemd | unit:<name> | exec:<shell command> | http(s)://host:port/path | tcp:host:port
  ({ip} in a URL or host is the instance's IPv4 address as LXD reports it)

${EXIT_CODE_HELP}`;

const CHECK_EXAMPLES = `
Examples:
  safeupdate check web1
  safeupdate check web1 web2 --check unit:nginx --check 'tcp:{ip}:443' --json
  safeupdate check @web --exclude web3      (a group of the config file; also --all, --where)

Exit codes: 0 all required checks pass, 1 a required check failed, 2 bad input,
3 could not check (instance missing or stopped, LXD unreachable).`;

/** Runs the command line and returns the exit code; it never calls process.exit itself. */
export async function main(argv: string[], given: Io): Promise<number> {
  // The global --client is known once commander has parsed it, before any subcommand's action runs.
  const io: Io = { ...given };
  // Everything after the first "--" is the update command, passed on as an array, never re-joined.
  const split = argv.indexOf('--');
  const ownArgs = split >= 0 ? argv.slice(0, split) : argv;
  const command = split >= 0 ? argv.slice(split + 1) : null;
  let exitCode: number = EXIT.ok;
  const oneForm = bothFormsRefused('--expiry', '--no-expiry');

  const program = new Command('safeupdate')
    .description('Safe package upgrades in LXD and Incus containers: snapshot, update, verify, roll back automatically, report.')
    .version(version, '-V, --version')
    .exitOverride()
    // One voice for every refusal: commander's own ("error: unknown option …") speaks as the tool does.
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (text, write) => write(text.replace(/^error: /, 'safeupdate: ')) })
    .showHelpAfterError('(safeupdate --help for usage)')
    .option('--client <lxc|incus>', 'the client to drive: lxc (LXD) or incus (Incus) (default: $SAFEUPDATE_CLIENT, else lxc if installed, else incus)')
    .hook('preAction', (self) => {
      io.client = self.opts<{ client?: string }>().client;
    });

  withOutputOptions(withFleetOptions(
    program
      .command('run', { isDefault: true })
      .description('snapshot an instance, run the update command in it, check its health, and roll back on failure')
      .usage('[options] <instance...> -- <command> [args...]')
      .argument('[instances...]', 'the instances to update: [remote:]name, or @group from the config file')
      // Words after the instance without "--" are a forgotten "--", not "too many arguments"; an
      // unknown option among them may be apt's own (-y): refuseStrayWords says which it was.
      .allowExcessArguments(true)
      .allowUnknownOption(true)
      .option('--project <name>', 'the LXD project of the instance')
      .option('--check <spec>', 'health check, repeatable; replaces the configured checks (default: systemd where the instance runs it)', collect, [])
      .option('--force', 'update even when a required check fails before the update')
      .option('--snapshot-name <name>', 'snapshot name (default safeupdate-YYYYMMDD-HHMMSS, UTC); "safeupdate-" is prefixed if missing')
      .option('--expiry <duration>', 'when the snapshot expires: 90s, 30m, 12h, 14d, 2w, 1h30m (default 14d)')
      .option('--no-expiry', 'keep the snapshot until it is deleted (not with --expiry)')
      .option('--env <KEY=VALUE>', 'environment variable for the update command, repeatable', collect, [])
      .option('--timeout <duration>', 'bound on the update command; hitting it counts as a failure (default 1h)')
      .option('--no-rollback', 'on failure, leave the instance as it is and report (exit 4)')
      .option('--keep <n>', 'after a successful update, keep the n newest safeupdate snapshots of the instance and delete older ones')
      .option('--copy-to <remote:>', 'after a successful update, refresh the instance with its snapshots to this snapshot server (copy --refresh); a failure there is exit 5')
      .option('--keep-failed', 'before rolling back, keep the broken state as a stopped copy <name>-failed-<timestamp>')
      .option('--dry-run', 'check and print the plan (with an apt command: the packages it would change); change nothing')
      .option('--refuse <major|minor>', 'refuse, before anything changes, an update that would raise a package this far (apt simulation; exit 3)')
      .option('--allow <package>', 'a package (glob) that --refuse lets through, repeatable', collect, [])
      .option('--rehearse [force]', 'first run the update and the checks on a throw-away copy of the snapshot; touch the instance only if the copy ends healthy (=force: also on a dir pool, where the copy is a full copy)')
      .option('--keep-unchanged', 'keep the snapshot even when the update changed no package')
      .option('--soak <duration>', 'after the checks pass, keep watching them and systemd\'s restart counters this long (e.g. 2m); a failure or a restart rolls back')
      .option('--restart <auto|always|never>', 'after the update and before the checks, restart the instance: auto (when the update left it due a restart: reboot-required, or processes running deleted files), always, or never (a due restart is then a warning) (default auto: costs a restart only when one is due)')
      .option('--no-package-report', 'do not read the installed packages before and after the update')
      .option('--lock-timeout <duration>', "with an apt command: how long to wait for dpkg's lock before the snapshot; still held then is exit 3, nothing changed (default 5m)"),
  ))
    .on('option:expiry', oneForm('--expiry'))
    .on('option:no-expiry', oneForm('--no-expiry'))
    .addHelpText('after', RUN_EXAMPLES)
    .action(async (instances: string[], flags: RunFlags & FleetFlags & OutputFlags, self: Command) => {
      refuseStrayWords(instances, command, {
        subcommands: program.commands.map((sub) => sub.name()),
        options: self.options.flatMap((option) => option.long ?? []),
        explicitRun: program.args[0] === 'run',
      });
      // Commander fills in negated flags (--no-rollback) even when absent: only given flags may override config.
      const given = <K extends keyof RunFlags>(key: K) => (self.getOptionValueSource(key) === 'cli' ? flags[key] : undefined);
      const config = await loadConfig(flags.config);
      const chosen = { ...flags, expiry: given('expiry'), rollback: given('rollback') };
      if (instances.length === 0 && flags.all === undefined) throw new UsageError("missing required argument 'instance'");
      // Words after one instance without "--" are a forgotten "--", not a fleet.
      if (command !== null && isFleet(instances, flags)) {
        exitCode = await runFleetCommand(io, instances, command, chosen, config);
        return;
      }
      const options = await runOptionsFor(lxdFor(io), instances[0]!, null, command, chosen, config, io.terminal);
      // The run itself loads when it starts, not at every start (--help too).
      const { runUpdate } = await import('../run/run-update.js');
      exitCode = await withRun(io, flags, { label: options.ref.name, showOutput: !options.interactive, onInterrupt: INTERRUPT_RUN }, (context) => runUpdate(options, context));
    });

  withOutputOptions(withSelectionOptions(
    program
      .command('check')
      .description('run the health checks alone (phase "check"); changes nothing')
      .argument('[instances...]', 'instances to check: [remote:]name, or @group from the config file')
      .option('--project <name>', 'the LXD project of the instances')
      .option('--check <spec>', 'health check, repeatable; replaces the configured checks', collect, []),
  ))
    .addHelpText('after', CHECK_EXAMPLES)
    .action(async (instances: string[], flags: { check: string[] } & SelectionFlags & OutputFlags) => {
      if (command !== null) throw new UsageError('check takes no command after "--"');
      const config = await loadConfig(flags.config);
      // Each instance's checks from its own section, as typed; bad --check specs are refused before LXD is asked.
      const checksFor = (label: string) => resolveChecks(flags.check, settingsFor(config, label));
      checksFor('');
      const single = instances.length === 1 && !usesSelection(instances, flags) ? parseInstanceRef(instances[0]!).name : null;
      const { runChecksOnly } = await import('../run/run-checks.js');
      exitCode = await withRun(io, flags, { label: single ?? 'check', onInterrupt: 'stopping the checks; nothing is changed' }, async (context) => {
        const selection = await chooseInstances(context.lxd, instances, flags, config.groups ?? {}, cannotCheck);
        const targets = selection.targets.map((target) => ({ ref: target.ref, checks: checksFor(target.label) }));
        return runChecksOnly(targets, context, selection.notStarted);
      });
    });

  withOutputOptions(
    program
      .command('recover')
      .description('finish the job of a run that was killed (SIGKILL, power loss): roll back to its snapshot if the update had begun, else clear its record')
      .argument('<instance>', 'the instance: [remote:]name')
      .option('--project <name>', 'the LXD project of the instance')
      .option('--check <spec>', 'health check after the rollback, repeatable; replaces the configured checks', collect, [])
      .option('--forget', 'remove the record without touching the instance (after checking the instance by hand)')
      .option('--yes', 'do not ask for confirmation'),
  )
    .addHelpText('after', '\nExamples:\n  safeupdate recover web1\n  safeupdate recover web1 --yes --check unit:nginx\n  safeupdate recover web1 --forget\n\nExit codes: 0 recovered (or nothing to recover, or forgotten), 2 bad input or no confirmation, 3 a run is still in progress or LXD is unreachable, 4 the rollback failed or the instance is unhealthy after it.')
    .action(async (instance: string, flags: { project?: string; check: string[]; forget?: boolean; yes?: boolean } & OutputFlags) => {
      if (command !== null) throw new UsageError('recover takes no command after "--"');
      if (flags.forget && flags.check.length) throw new UsageError('--forget takes no --check: it does not touch the instance');
      // What recover does loads when it runs, not at every start (--help too).
      exitCode = await (await import('./recover-command.js')).recoverCommand(io, instance, flags);
    });

  addSnapshotCommands(program, io, command, (code) => (exitCode = code));
  addRecordCommands(program, io, (code) => (exitCode = code));
  addHooksCommands(program, io, command, (code) => (exitCode = code));

  program.addHelpText('after', `\nWithout a subcommand, "run" is meant: safeupdate <instance> -- <command>.\n${RUN_EXAMPLES}`);

  try {
    await program.parseAsync(ownArgs, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr(`safeupdate: ${error.message}\n`);
      return EXIT.usage;
    }
    // Errors the subcommands report as such: nothing was changed (exit 3).
    if (error instanceof LxdError || error instanceof CorruptRecord || error instanceof InstanceBusy || error instanceof LeaseBusy || error instanceof UnreadableLease) {
      io.stderr(`safeupdate: ${error.message}\n`);
      return EXIT.couldNotStart;
    }
    return reportInternalError(error, io, ownArgs.includes('-v') || ownArgs.includes('--verbose'));
  }
}

/**
 * The one rule for what nobody foresaw: exit 3 when no instance can have changed, 4 when one may
 * have; never 1, which says "rolled back and healthy". One line, the stack with -v.
 */
export function reportInternalError(error: unknown, io: Pick<Io, 'stderr'>, verbose: boolean): number {
  const changed = instanceMayHaveChanged();
  const detail = verbose && error instanceof Error && error.stack ? error.stack : String(error instanceof Error ? error.message : error);
  io.stderr(
    `safeupdate: internal error: ${detail}\n` +
      (changed
        ? 'safeupdate: an instance may have changed; its record is kept: check it, then run safeupdate recover on it\n'
        : 'safeupdate: nothing was changed\n'),
  );
  return changed ? EXIT.needsHuman : EXIT.couldNotStart;
}
