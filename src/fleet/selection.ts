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
  /**
   * Why a listed instance cannot be taken, or null. Named, it is reported not started; under --all
   * it is left out. Default: a run's rule (running, not ephemeral).
   */
  refuse?: (found: ListedInstance) => string | null;
}

/** What an update needs: a running instance that outlives a stop. */
export function cannotRun(found: ListedInstance): string | null {
  return found.ephemeral ? 'it is ephemeral (a restore would not outlive a stop)' : cannotCheck(found);
}

/** What a check needs: a running instance. */
export function cannotCheck(found: ListedInstance): string | null {
  return found.status !== 'Running' ? `it is ${found.status}` : null;
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
  const everywhere = await Promise.all(request.all.map(async (remote) => ({ remote, scope: await settle(lxd.resolveRef({ remote, name: 'all', project: request.project })) })));
  const exclusions = await resolveExclusions(lxd, request, everywhere.map(({ scope }) => scope).filter((scope): scope is InstanceRef => !(scope instanceof LxdError)));

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
    const exclusion = exclusions.find((candidate) => candidate.keys.includes(keyOf(ref)));
    if (exclusion) exclusion.matched = true;
    if (seen.has(keyOf(ref)) || exclusion) return;
    seen.add(keyOf(ref));
    if (found && !where.every(([key, value]) => found.config[key] === value)) return;
    const why = !found ? 'no such instance' : (request.refuse ?? cannotRun)(found);
    if (why === null) selection.targets.push({ ref, label, member: found!.location });
    // --all means the ones the command can take (for a run, the running ones): the others were not asked for.
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
  // An exclusion that leaves nothing out is a typo or the wrong remote: saying nothing would update
  // the very instance it was meant to spare. Where its remote could not be listed it cannot be judged.
  const failed = new Set<string>();
  for (const [scope, result] of listings) if ((await result) instanceof LxdError) failed.add(scope);
  const unmatched = exclusions.find((exclusion) => !exclusion.matched && !exclusion.keys.some((key) => failed.has(scopeOf(key))));
  if (unmatched) throw new UsageError(`--exclude "${unmatched.text}": matches no instance of the selection (a name without a remote is taken on the default remote and on each --all remote)`);
  return selection;
}

interface Exclusion {
  text: string;
  /** The instances it can mean (keyOf): with a remote, that one; without, the name on every remote the selection lists. */
  keys: string[];
  matched: boolean;
}

/**
 * An exclusion is resolved as its selection is: `backup:db9` on backup:, and a bare `db9` where a
 * bare name is taken (the default remote, for named instances and --all) and on the remote of each
 * `--all remote:` it narrows. An exclusion that cannot be resolved is not dropped: the instance it
 * names could still be updated. Nothing has started; the LXD error ends the run (exit 3).
 */
async function resolveExclusions(lxd: Lxd, request: SelectionRequest, allScopes: InstanceRef[]): Promise<Exclusion[]> {
  return Promise.all(request.exclude.map(async (text) => {
    const typed = parseInstanceRef(text, request.project);
    const own = keyOf(await lxd.resolveRef(typed));
    const keys = typed.remote !== null ? [own] : [own, ...allScopes.map((scope) => keyOf({ ...scope, name: typed.name }))];
    return { text, keys: [...new Set(keys)], matched: false };
  }));
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

/** The listing an instance key belongs to: `remote/project`. */
function scopeOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/'));
}
