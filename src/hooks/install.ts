import type { CheckDefinition } from '../checks/check.js';
import { LxdError } from '../errors.js';
import type { ClientName } from '../lxd/dialect.js';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import { formatRef } from '../lxd/names.js';
import { shellQuote } from '../shell.js';
import { planBroker, planBrokerRemoval } from './broker-plan.js';
import type { HostServices } from './broker-units.js';
import { CannotInstall } from './certificate.js';
import { readHookState, type Looked } from './instance-state.js';
import { ALL_PATHS, APT_UNITS, CONF_DIR, DIRS, LIB_DIR, MODE_FILES, OLD_GUARD_APT_CONF, PATHS, trustName, type HookMode } from './layout.js';
import { MIGRATION_NOTE, planMigration, revoke } from './migration.js';
import type { Action, Plan } from './plan.js';
import { parseHookConf, readTemplate, renderChecks, renderHookConf, renderTemplate } from './render.js';

export interface HookDeps {
  lxd: Lxd;
  /** This package's version: every installed file's version line. */
  version: string;
  /** The host's state folder: the brokers' registrations and the hook runs' reports. */
  stateDir: string;
  services: HostServices;
  env: NodeJS.ProcessEnv;
}

export interface HookTarget {
  /** As the operator wrote it. */
  text: string;
  ref: InstanceRef;
}

export interface InstallTarget extends HookTarget {
  /** The instance's checks from safeupdate's config (or --check); null when none are configured. */
  checks: CheckDefinition[] | null;
  /** Lifetime of the hook's snapshots; null: they never expire. */
  expiryMs: number | null;
}

export interface InstallOptions {
  mode: HookMode;
  disableTimers: boolean;
}

async function lookAt(lxd: Lxd, target: HookTarget, verb: string): Promise<Looked | { missing: InstanceRef }> {
  const ref = await lxd.resolveRef(target.ref);
  const api = await lxd.checkReachable(ref.remote);
  const instance = await lxd.getInstance(ref);
  if (!instance) return { missing: ref };
  if (instance.status !== 'Running') {
    const client = lxd.dialect.client;
    throw new CannotInstall(`${target.text} is ${instance.status}: start it to ${verb} (hooks are managed through ${client} exec and ${client} file)`);
  }
  const state = await readHookState(lxd, ref);
  return { ref, project: ref.project ?? 'default', instance, api, state, conf: parseHookConf(state.files.get(PATHS.hookConf)?.content ?? '') };
}

/**
 * How the host command names the instance: its remote when one was given, its project when not
 * `default`, and the client when it is Incus (on a host with both, safeupdate would take lxc).
 */
export function hostNaming(given: InstanceRef, project: string, client: ClientName = 'lxc'): { hostInstance: string; hostOptions: string } {
  const options = [...(client === 'incus' ? ['--client incus'] : []), ...(project === 'default' ? [] : [`--project ${project}`])];
  return { hostInstance: formatRef(given), hostOptions: options.join(' ') };
}

async function execIn(lxd: Lxd, ref: InstanceRef, script: string, what: string): Promise<void> {
  const result = await lxd.exec(ref, ['sh', '-c', script], { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new LxdError(`${what}: ${result.stderr.trim() || `exit ${result.exitCode ?? result.signal}`}`, 'failed', []);
}

/** What install would write at a path, for this mode. */
function desiredContent(template: string | null, path: string, version: string, generated: Record<string, string>): string {
  if (template) return renderTemplate(readTemplate(template), { version });
  const text = generated[path];
  if (text === undefined) throw new Error(`no content for ${path}`);
  return text;
}

/**
 * Installing: read-only until the plan's actions run. Everything this mode needs, and nothing else
 * of safeupdate's: switching modes removes the other mode's files (guard mode also the broker's
 * device and registration), and what the old certificate-based snapshot mode left is removed in
 * either mode. The apt.conf.d snippet, which switches the hook on, is written last.
 */
export async function planInstall(deps: HookDeps, target: InstallTarget, options: InstallOptions): Promise<Plan> {
  const { lxd, version } = deps;
  const looked = await lookAt(lxd, target, 'install the hook');
  if ('missing' in looked) throw new CannotInstall(`instance ${target.text} does not exist`);
  const { ref, project, instance, state, conf } = looked;
  if (!state.apt) throw new CannotInstall(`${target.text} has no apt (apt-get and /etc/apt/apt.conf.d): the hooks are apt hooks`);
  const { mode } = options;
  const actions: Action[] = [];
  const notes: string[] = [];
  const push = (path: string, content: string, mode: number, describe: string): Action => ({ describe, run: () => lxd.pushFile(ref, path, content, mode) });
  const naming = hostNaming(target.ref, project, lxd.dialect.client);

  // The old mode's key is revoked before anything else: until then it reaches LXD.
  const migration = await planMigration(lxd, looked);
  actions.push(...migration.actions);
  if (migration.found.length) notes.push(`${MIGRATION_NOTE} (found: ${migration.found.join(', ')})`);

  const folders = [LIB_DIR, CONF_DIR].filter((dir) => !state.dirs.includes(dir));
  if (folders.length) {
    const modes = DIRS.filter((dir) => folders.includes(dir.path));
    actions.push({
      describe: `create ${folders.join(', ')}`,
      run: () => execIn(lxd, ref, modes.map((dir) => `mkdir -p -m ${dir.mode.toString(8)} ${shellQuote(dir.path)}`).join(' && '), `cannot create ${folders.join(', ')}`),
    });
  }

  const generated: Record<string, string> = {};
  if (mode === 'snapshot') {
    const broker = await planBroker(deps, looked, { text: target.text, ...naming, expiryMs: target.expiryMs });
    actions.push(...broker.actions);
    notes.push(...broker.notes);
    const checks = renderChecks(target.checks, state.systemd, target.text, version);
    generated[PATHS.checks] = checks.text;
    notes.push(checks.run.length ? `checks after dpkg: ${checks.run.join(', ')}` : 'no checks after dpkg (no systemd, no unit: or exec: checks configured)');
    for (const skipped of checks.skipped) notes.push(`not run by the hook: ${skipped}`);
  } else {
    actions.push(...(await planBrokerRemoval(deps, { ref, project, devices: instance.devices })));
  }

  const recorded = (conf.disabled_units ?? '').split(' ').filter(Boolean);
  const disable = options.disableTimers ? APT_UNITS.filter((unit) => state.units[unit] === 'enabled') : [];
  if (options.disableTimers && Object.keys(state.units).length === 0) notes.push('no systemd in the instance: no apt timers to disable');
  if (disable.length) {
    actions.push({
      describe: `disable ${disable.join(', ')} (apt's own schedules in the instance; uninstall enables them again)`,
      run: () => execIn(lxd, ref, `systemctl disable --now ${disable.join(' ')}`, `cannot disable ${disable.join(', ')}`),
    });
  }
  const stillEnabled = APT_UNITS.filter((unit) => state.units[unit] === 'enabled' && !disable.includes(unit));
  if (stillEnabled.length) {
    notes.push(`${stillEnabled.join(', ')} still enabled in the instance: ${mode === 'guard' ? 'the guard refuses their runs, which then fail every day' : 'their runs go through the hook'}; --disable-timers turns them off`);
  }

  generated[PATHS.hookConf] = renderHookConf({
    mode,
    instance: ref.name,
    project,
    ...naming,
    disabledUnits: [...new Set([...recorded, ...disable])],
  }, version);
  for (const spec of MODE_FILES[mode]) {
    const content = desiredContent(spec.template, spec.path, version, generated);
    const current = state.files.get(spec.path);
    if (current?.content === content && current.mode === spec.mode) continue;
    actions.push(push(spec.path, content, spec.mode, `${current ? 'update' : 'write'} ${spec.path}`));
  }

  // The other mode's files.
  const keep = new Set(MODE_FILES[mode].map((spec) => spec.path));
  const other = MODE_FILES[mode === 'guard' ? 'snapshot' : 'guard'].map((spec) => spec.path).filter((path) => !keep.has(path));
  for (const path of [...other, OLD_GUARD_APT_CONF]) {
    if (state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  }

  return {
    instance: target.text,
    actions,
    notes,
    done: `${mode} hook installed (${version})`,
    nothingToDo: `${mode} hook already installed (${version}); nothing changed`,
  };
}

/**
 * Uninstalling: every file of the hook (its records and log too), the broker's device, socket unit
 * and registration, and whatever the old certificate-based mode left; apt's timers that install
 * disabled are enabled again. Folders go when they are empty. An instance that is gone leaves only
 * its host side behind, which is removed by name.
 */
export async function planUninstall(deps: HookDeps, target: HookTarget): Promise<Plan> {
  const { lxd } = deps;
  const looked = await lookAt(lxd, target, 'uninstall the hook');
  const notes: string[] = [];
  const base = { instance: target.text, notes, done: 'hook removed: no file, device, registration or trust entry of it is left', nothingToDo: 'no hook installed; nothing changed' };
  if ('missing' in looked) {
    const { missing } = looked;
    const project = missing.project ?? 'default';
    const actions = await planBrokerRemoval(deps, { ref: missing, project, devices: {} });
    const entries = (await lxd.listCertificates(missing.remote)).filter((entry) => entry.name === trustName(missing.name, project));
    actions.push(...revoke(lxd, missing.remote, entries));
    if (actions.length === 0) throw new CannotInstall(`instance ${target.text} does not exist`);
    return { ...base, actions, done: `instance ${target.text} does not exist; what the host kept for its hook was removed` };
  }
  const { ref, project, instance, state, conf } = looked;
  const actions: Action[] = [];
  // The snippets first: from then on apt runs without the hook, whatever else is left.
  const first: string[] = [PATHS.guardAptConf, PATHS.snapshotAptConf, OLD_GUARD_APT_CONF];
  for (const path of first) if (state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  const migration = await planMigration(lxd, looked);
  actions.push(...migration.actions);
  const enable = (conf.disabled_units ?? '').split(' ').filter((unit) => unit && state.units[unit] === 'disabled');
  if (enable.length) {
    actions.push({
      describe: `enable ${enable.join(', ')} again (install had disabled them)`,
      run: () => execIn(lxd, ref, `systemctl enable --now ${enable.join(' ')}`, `cannot enable ${enable.join(', ')}`),
    });
  }
  for (const path of ALL_PATHS) {
    if (!first.includes(path) && !migration.removes.includes(path) && state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  }
  for (const { path } of DIRS) {
    if (!state.dirs.includes(path) || migration.removes.includes(path)) continue;
    actions.push({
      describe: `remove ${path}`,
      run: async () => {
        try {
          await lxd.removeFile(ref, path);
        } catch (error) {
          // Not empty: someone else's files are in it, and they are not safeupdate's to remove.
          if (!(error instanceof LxdError) || !/not empty/i.test(error.message)) throw error;
          notes.push(`kept ${path}: it holds files that are not safeupdate's`);
        }
      },
    });
  }
  actions.push(...(await planBrokerRemoval(deps, { ref, project, devices: instance.devices })));
  return { ...base, actions };
}
