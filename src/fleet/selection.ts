import { LxdError, UsageError } from '../errors.js';
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
  // A remote that cannot be reached (or a project it refuses) costs only its own instances: they are
  // reported not started, and the others go on.
  // Named as typed (`web1`, `backup:db1`), as a single run names its instance; resolved to find it.
  const named = await Promise.all(expandGroups(request.names, groups).map(async (text) => {
    const typed = parseInstanceRef(text, request.project);
    return { typed, ref: await settle(lxd.resolveRef(typed)) };
  }));
  // An exclusion that cannot be resolved is not dropped: the instance it names could still be listed
  // later and updated. Nothing has started; the LXD error ends the run (exit 3).
  const excluded = new Set((await Promise.all(request.exclude.map((text) => lxd.resolveRef(parseInstanceRef(text, request.project))))).map(keyOf));
  const everywhere = await Promise.all(request.all.map(async (remote) => ({ remote, scope: await settle(lxd.resolveRef({ remote, name: 'all', project: request.project })) })));

  const listings = new Map<string, Promise<ListedInstance[] | LxdError>>();
  const listing = (ref: InstanceRef) => {
    const key = `${ref.remote}/${ref.project}`;
    if (!listings.has(key)) listings.set(key, settle(lxd.listInstances(ref.remote, ref.project)));
    return listings.get(key)!;
  };

  const selection: Selection = { targets: [], notStarted: [] };
  const seen = new Set<string>();
  const notStarted = (label: string, project: string | null, why: string, member: string | null = null) =>
    selection.notStarted.push({ ...emptyInstanceReport(label, project), member, error: { step: 'selection', message: why } });
  const take = (ref: InstanceRef, label: string, found: ListedInstance | undefined, byAll: boolean) => {
    if (seen.has(keyOf(ref)) || excluded.has(keyOf(ref))) return;
    seen.add(keyOf(ref));
    if (found && !where.every(([key, value]) => found.config[key] === value)) return;
    const why = !found ? 'no such instance' : found.ephemeral ? 'it is ephemeral (a restore would not outlive a stop)' : found.status !== 'Running' ? `it is ${found.status}` : null;
    if (why === null) selection.targets.push({ ref, label, member: found!.location });
    // --all means the running ones: a stopped instance there was not asked for.
    else if (!byAll) notStarted(label, ref.project, why, found?.location ?? null);
  };
  const unreachable = (label: string, project: string | null, error: LxdError) => {
    if (seen.has(`?${label}`)) return;
    seen.add(`?${label}`);
    notStarted(label, project, error.message);
  };

  for (const { typed, ref } of named) {
    const label = formatRef(typed);
    const listed = ref instanceof LxdError ? ref : await listing(ref);
    if (listed instanceof LxdError) unreachable(label, typed.project, listed);
    else take(ref as InstanceRef, label, listed.find((item) => item.name === (ref as InstanceRef).name), false);
  }
  for (const { remote, scope } of everywhere) {
    const label = remote === null ? '--all' : `${remote}:`;
    const listed = scope instanceof LxdError ? scope : await listing(scope);
    if (listed instanceof LxdError) unreachable(label, request.project, listed);
    else for (const item of listed) take({ ...(scope as InstanceRef), name: item.name }, formatRef({ remote, name: item.name, project: null }), item, true);
  }
  return selection;
}

/** The LXD error instead of a rejection; anything else is still a bug and still thrown. */
async function settle<T>(promise: Promise<T>): Promise<T | LxdError> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof LxdError) return error;
    throw error;
  }
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
