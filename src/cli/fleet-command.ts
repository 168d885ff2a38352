import type { Command } from 'commander';
import type { Config } from '../config/config-file.js';
import { settingsFor } from '../config/config-file.js';
import type { ScheduleOptions } from '../fleet/scheduler.js';
import { selectInstances } from '../fleet/selection.js';
import type { RunOptions } from '../run/types.js';
import { runOptionsFor, toRunOptions, type RunFlags } from './run-options.js';
import { selectionRequest, usesSelection, withSelectionOptions, type SelectionFlags } from './selection-options.js';
import { INTERRUPT_RUN, wholeNumber, withRun, type OutputFlags } from './shared.js';
import type { Io } from './io.js';

export interface FleetFlags extends SelectionFlags {
  parallel?: number;
  canary?: number;
  maxFailures?: number;
  perMember?: number;
}

export function withFleetOptions(command: Command): Command {
  return withSelectionOptions(command)
    // Checked as they are parsed, so that a bad value is refused for one instance too.
    .option('--parallel <n>', 'at most n instances at once (default 1)', wholeNumber('--parallel'))
    .option('--canary <n>', 'update the first n alone; if any of them is not updated, skip the rest', wholeNumber('--canary'))
    .option('--max-failures <n>', 'start no more once n instances failed; the rest are skipped', wholeNumber('--max-failures'))
    .option('--per-member <n>', 'at most n at once on one cluster member', wholeNumber('--per-member'));
}

/** More than one instance, a group, or a fleet flag: the fleet path; one instance keeps the single run. */
export function isFleet(instances: string[], flags: FleetFlags): boolean {
  return instances.length !== 1 || usesSelection(instances, flags);
}

export async function runFleetCommand(io: Io, instances: string[], command: string[] | null, flags: RunFlags & FleetFlags & OutputFlags, config: Config): Promise<number> {
  // Everything the command line can get wrong is refused before LXD is asked anything.
  // (Names are parsed by the selection; a group name is not an instance name, so a stand-in is used here.)
  toRunOptions('fleet', command, flags, settingsFor(config, ''), false);
  const bounds: ScheduleOptions = { parallel: flags.parallel ?? 1, canary: flags.canary ?? 0, maxFailures: flags.maxFailures ?? null, perMember: flags.perMember ?? null };
  const request = selectionRequest(instances, flags);
  return withRun(io, flags, { label: 'fleet', lines: true, onInterrupt: INTERRUPT_RUN }, async (context, log) => {
    // The fleet's runs and views load when it starts, not at every start (--help too), as withRun's own.
    const [{ runFleet }, { fleetLines }, { fleetTaskList }] = await Promise.all([import('../fleet/run-fleet.js'), import('./fleet-lines.js'), import('./fleet-task-list.js')]);
    const selection = await selectInstances(context.lxd, request, config.groups ?? {});
    // Each instance's settings decided, and refused as a single run's would be, before the first
    // starts: a bad config section must not stop a fleet half-way. Named by its label, as typed, it
    // reads the section a single run of it reads (`backup:db1`, never the "db1" of another server).
    // Several runs cannot own one terminal: never interactive.
    const options = new Map<string, RunOptions>();
    for (const target of selection.targets) options.set(target.label, await runOptionsFor(context.lxd, target.label, target.ref, command, flags, config, false));
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
