import { Option, type Command } from 'commander';
import { loadConfig } from '../config/config-file.js';
import { UsageError } from '../errors.js';
import type { ListedInstance, Lxd } from '../lxd/lxd.js';
import { parseInstanceRef } from '../lxd/names.js';
import { selectInstances, type Selection, type SelectionRequest } from '../fleet/selection.js';
import { parseRemoteTarget } from './run-options.js';
import { collect } from './shared.js';

// One way to choose instances for every command that takes several (run, check, prune, sync):
// names, @group, --all, --exclude, --where, resolved by selectInstances.

export interface SelectionFlags {
  /** One entry per `--all`: '' the default remote, `backup:` that remote. */
  all?: string[];
  exclude: string[];
  where: string[];
  project?: string;
}

export function withSelectionOptions(command: Command, what = 'running instance'): Command {
  return command
    // Without a value the preset '' still goes through collect, so that --all and --all backup: add up.
    .addOption(new Option('--all [remote:]', `every ${what} of the project (on this remote; repeatable)`).preset('').argParser(collect))
    .option('--exclude <instance>', 'leave this instance out, repeatable; a bare name also on each --all remote (one that matches nothing is bad input)', collect, [])
    .option('--where <KEY=VALUE>', 'only instances whose config has this value, repeatable (all must hold)', collect, []);
}

/** A group, --all, --where or --exclude: the instances must be listed to be chosen. */
export function usesSelection(instances: string[], flags: SelectionFlags): boolean {
  return instances.some((name) => name.startsWith('@')) || flags.all !== undefined || flags.where.length > 0 || flags.exclude.length > 0;
}

export function selectionRequest(instances: string[], flags: SelectionFlags, refuse?: SelectionRequest['refuse']): SelectionRequest {
  const all = (flags.all ?? []).map((remote) => (remote === '' ? null : parseRemoteTarget(remote, '--all')));
  if (instances.length === 0 && all.length === 0) throw new UsageError('no instances: name them, use @group, or --all');
  return { names: instances, all, exclude: flags.exclude, where: flags.where, project: flags.project ?? null, ...(refuse ? { refuse } : {}) };
}

/**
 * The instances a command that checks or copies works on, named as typed (refs as the operator
 * would type them, so that reports and records name them as before). Plain names are taken as
 * they are, without a listing, and the command finds out what is missing itself; with a group,
 * --all, --where or --exclude they are chosen by one listing per remote, and what cannot be taken
 * is in `notStarted`.
 */
export async function chooseInstances(lxd: Lxd, instances: string[], flags: SelectionFlags, groups: Record<string, string[]>, refuse: (found: ListedInstance) => string | null): Promise<Selection> {
  const project = flags.project ?? null;
  if (!usesSelection(instances, flags)) {
    if (instances.length === 0) throw new UsageError("missing required argument 'instance'");
    return { targets: instances.map((text) => ({ ref: parseInstanceRef(text, project), label: text, member: null })), notStarted: [] };
  }
  const selection = await selectInstances(lxd, selectionRequest(instances, flags, refuse), groups);
  return { ...selection, targets: selection.targets.map((target) => ({ ...target, ref: parseInstanceRef(target.label, project) })) };
}

/** The config file's groups, read only when a group is named: a command on plain names never depends on the file. */
export async function groupsFor(instances: string[], configFile: string | undefined): Promise<Record<string, string[]>> {
  return instances.some((name) => name.startsWith('@')) ? ((await loadConfig(configFile)).groups ?? {}) : {};
}
