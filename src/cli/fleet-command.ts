import { Option, type Command } from 'commander';
import type { Config } from '../config/config-file.js';
import { settingsFor } from '../config/config-file.js';
import { UsageError } from '../errors.js';
import { fleetLines } from '../fleet/fleet-lines.js';
import { fleetTaskList } from './fleet-task-list.js';
import { runFleet } from '../fleet/run-fleet.js';
import type { ScheduleOptions } from '../fleet/scheduler.js';
import { selectInstances } from '../fleet/selection.js';
import type { RunOptions } from '../run/run-update.js';
import { parseRemoteTarget, toRunOptions, type RunFlags } from './run-options.js';
import { collect, INTERRUPT_RUN, withRun, type Io, type OutputFlags } from './shared.js';

export interface FleetFlags {
  /** One entry per `--all`: '' the default remote, `backup:` that remote. */
  all?: string[];
  exclude: string[];
  where: string[];
  parallel?: string;
  canary?: string;
  maxFailures?: string;
  perMember?: string;
}

export function withFleetOptions(command: Command): Command {
  return command
    // Without a value the preset '' still goes through collect, so that --all and --all backup: add up.
    .addOption(new Option('--all [remote:]', 'every running instance of the project (on this remote; repeatable)').preset('').argParser(collect))
    .option('--exclude <instance>', 'leave this instance out, repeatable', collect, [])
    .option('--where <KEY=VALUE>', 'only instances whose config has this value, repeatable (all must hold)', collect, [])
    .option('--parallel <n>', 'at most n instances at once (default 1)')
    .option('--canary <n>', 'update the first n alone; if any of them is not updated, skip the rest')
    .option('--max-failures <n>', 'start no more once n instances failed; the rest are skipped')
    .option('--per-member <n>', 'at most n at once on one cluster member');
}

/** More than one instance, a group, or a fleet flag: the fleet path; one instance keeps the single run. */
export function isFleet(instances: string[], flags: FleetFlags): boolean {
  return instances.length !== 1 || instances[0]!.startsWith('@') || flags.all !== undefined || flags.where.length > 0 || flags.exclude.length > 0;
}

export async function runFleetCommand(io: Io, instances: string[], command: string[] | null, flags: RunFlags & FleetFlags & OutputFlags, config: Config): Promise<number> {
  // Everything the command line can get wrong is refused before LXD is asked anything.
  // (Names are parsed by the selection; a group name is not an instance name, so a stand-in is used here.)
  toRunOptions('fleet', command, flags, settingsFor(config, ''), false);
  const bounds: ScheduleOptions = {
    parallel: count(flags.parallel, '--parallel', 1) ?? 1,
    canary: count(flags.canary, '--canary', 1) ?? 0,
    maxFailures: count(flags.maxFailures, '--max-failures', 1),
    perMember: count(flags.perMember, '--per-member', 1),
  };
  const all = (flags.all ?? []).map((remote) => (remote === '' ? null : parseRemoteTarget(remote, '--all')));
  if (instances.length === 0 && all.length === 0) throw new UsageError('no instances: name them, use @group, or --all');
  return withRun(io, flags, { label: 'fleet', lines: true, onInterrupt: INTERRUPT_RUN }, async (context, log) => {
    const selection = await selectInstances(context.lxd, { names: instances, all, exclude: flags.exclude, where: flags.where, project: flags.project ?? null }, config.groups ?? {});
    // Each instance's settings decided before the first starts: a bad config section must not stop a fleet half-way.
    const options = new Map<string, RunOptions>(selection.targets.map((target) => [
      target.label,
      // Several runs cannot own one terminal: never interactive.
      toRunOptions(target.ref.name, command, flags, settingsFor(config, target.ref.name), false),
    ]));
    // In a terminal, a group per instance; with --verbose, --quiet or --json, and without a terminal, prefixed lines.
    const list = io.terminal && !flags.verbose && !flags.quiet && !flags.json
      ? await fleetTaskList([...selection.targets.map((target) => target.label), ...selection.notStarted.map((item) => item.instance)])
      : null;
    const emit = list?.emit ?? fleetLines({ write: log.stderr, verbose: flags.verbose ?? false, quiet: flags.quiet ?? false, showOutput: false });
    const report = await runFleet(selection, (target) => options.get(target.label)!, { command: command!, dryRun: flags.dryRun ?? false }, bounds, context, emit);
    // The list draws on stderr: it ends before the summary is printed, and never holds it back for long.
    if (list) await Promise.race([list.flush(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    return report;
  });
}

function count(text: string | undefined, what: string, least: number): number | null {
  if (text === undefined) return null;
  if (!/^\d+$/.test(text) || Number(text) < least) throw new UsageError(`${what} "${text}": expected a whole number of at least ${least}`);
  return Number(text);
}
