import { UsageError } from '../errors.js';
import type { InstanceRef, ListedInstance, Lxd } from '../lxd/lxd.js';
import { formatRef, parseInstanceRef } from '../lxd/names.js';
import { emptyInstanceReport, type InstanceReport } from '../report/report.js';
import type { FleetTarget } from './scheduler.js';

export interface SelectionRequest {
  /** As typed: `web1`, `backup:db1`, `@web` (a group of the config file). */
  names: string[];
  /** `--all` / `--all backup:`: every running instance of the project on these remotes (null: the default one). */
  all: Array<string | null>;
  exclude: string[];
  /** `--where KEY=VALUE` on the instance's own config; all must hold. */
  where: string[];
  project: string | null;
}

export interface Selection {
  targets: FleetTarget[];
  /** Named instances that cannot run (missing, stopped, ephemeral): reported, the others go on. */
  notStarted: InstanceReport[];
}

/**
 * Turns the command line into the ordered list of instances to update: the order given, groups
 * expanded in place, then `--all` by name; each instance once. One listing per remote and project
 * gives status, config and cluster member without a read per instance.
 */
export async function selectInstances(lxd: Lxd, request: SelectionRequest, groups: Record<string, string[]>): Promise<Selection> {
  const where = request.where.map(parseWhere);
  const named = await Promise.all(expandGroups(request.names, groups).map((text) => lxd.resolveRef(parseInstanceRef(text, request.project))));
  const excluded = new Set((await Promise.all(request.exclude.map((text) => lxd.resolveRef(parseInstanceRef(text, request.project))))).map(keyOf));
  const everywhere = await Promise.all(request.all.map((remote) => lxd.resolveRef({ remote, name: 'all', project: request.project })));

  const listings = new Map<string, Promise<ListedInstance[]>>();
  const listing = (ref: InstanceRef) => {
    const key = `${ref.remote}/${ref.project}`;
    if (!listings.has(key)) listings.set(key, lxd.listInstances(ref.remote, ref.project));
    return listings.get(key)!;
  };

  const selection: Selection = { targets: [], notStarted: [] };
  const seen = new Set<string>();
  const take = (ref: InstanceRef, found: ListedInstance | undefined, byAll: boolean) => {
    if (seen.has(keyOf(ref)) || excluded.has(keyOf(ref))) return;
    seen.add(keyOf(ref));
    if (found && !where.every(([key, value]) => found.config[key] === value)) return;
    const label = formatRef(ref);
    const why = !found ? 'no such instance' : found.ephemeral ? 'it is ephemeral (a restore would not outlive a stop)' : found.status !== 'Running' ? `it is ${found.status}` : null;
    if (why === null) selection.targets.push({ ref, label, member: found!.location });
    // --all means the running ones: a stopped instance there was not asked for.
    else if (!byAll) selection.notStarted.push({ ...emptyInstanceReport(label, ref.project), member: found?.location ?? null, error: { step: 'selection', message: `${label}: not started: ${why}; nothing changed` } });
  };

  for (const ref of named) take(ref, (await listing(ref)).find((item) => item.name === ref.name), false);
  for (const scope of everywhere) {
    for (const item of await listing(scope)) take({ remote: scope.remote, project: scope.project, name: item.name }, item, true);
  }
  return selection;
}

function expandGroups(names: string[], groups: Record<string, string[]>): string[] {
  return names.flatMap((name) => {
    if (!name.startsWith('@')) return [name];
    const members = groups[name.slice(1)];
    if (!members) throw new UsageError(`group "${name}": not defined under groups: in the config file`);
    return members;
  });
}

function parseWhere(text: string): [string, string] {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new UsageError(`--where "${text}": expected KEY=VALUE, like user.role=web`);
  return [text.slice(0, equals), text.slice(equals + 1)];
}

function keyOf(ref: InstanceRef): string {
  return `${ref.remote}/${ref.project}/${ref.name}`;
}
