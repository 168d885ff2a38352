import type { CheckDefinition } from '../checks/check.js';
import { LxdError } from '../errors.js';
import type { ClientName } from '../lxd/dialect.js';
import { requireFeatures, serverLabel } from '../lxd/extensions.js';
import type { DeviceConfig, Instance, InstanceRef, Lxd, ServerApi, TrustedCertificate } from '../lxd/lxd.js';
import { formatRef } from '../lxd/names.js';
import { CannotInstall, certificateFingerprint, loopbackConnectAddress, namesLoopback, type ClientCertificate } from './certificate.js';
import { readHookState, type InstanceHookState } from './instance-state.js';
import {
  ALL_PATHS, APT_UNITS, CONF_DIR, DEVICE_NAME, DIRS, LIB_DIR, MODE_FILES, PATHS, SECRET, TLS_DIR, TLS_FILES, trustName, type HookMode,
} from './layout.js';
import type { Action, Plan } from './plan.js';
import { parseHookConf, readTemplate, renderChecks, renderHookConf, renderTemplate, type HookConfig } from './render.js';
import { shellQuote } from '../shell.js';

export interface HookDeps {
  lxd: Lxd;
  /** This package's version: every installed file's version line. */
  version: string;
  newCertificate: (commonName: string) => Promise<ClientCertificate>;
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
  /** The proxy device's port on the instance's loopback (snapshot mode). */
  port: number;
  disableTimers: boolean;
}

/** How long the hook waits for LXD's snapshot: as long as safeupdate waits for its own (30 min). */
const SNAPSHOT_TIMEOUT_SECONDS = 1_800;

/** An instance on which hooks can be (un)installed: resolved, there and running, looked inside. */
interface Looked {
  ref: InstanceRef;
  project: string;
  instance: Instance;
  api: ServerApi;
  state: InstanceHookState;
  /** The installed hook.conf, or nothing. */
  conf: Record<string, string>;
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

export function proxyDevice(port: number, connect: string): DeviceConfig {
  return { type: 'proxy', listen: `tcp:127.0.0.1:${port}`, connect: `tcp:${connect}`, bind: 'instance' };
}

function sameDevice(a: DeviceConfig | undefined, b: DeviceConfig): boolean {
  if (!a) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
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
 * of safeupdate's: switching modes removes the other mode's files (guard mode also the key, the
 * proxy device and the trust entry). The apt.conf.d snippet, which switches the hook on, is written last.
 */
export async function planInstall(deps: HookDeps, target: InstallTarget, options: InstallOptions): Promise<Plan> {
  const { lxd, version } = deps;
  const looked = await lookAt(lxd, target, 'install the hook');
  if ('missing' in looked) throw new CannotInstall(`instance ${target.text} does not exist`);
  const { ref, project, instance, api, state, conf } = looked;
  if (!state.apt) throw new CannotInstall(`${target.text} has no apt (apt-get and /etc/apt/apt.conf.d): the hooks are apt hooks`);
  const { mode } = options;
  const actions: Action[] = [];
  const notes: string[] = [];
  const name = trustName(ref.name, project);
  const push = (path: string, content: string, mode: number, describe: string): Action => ({ describe, run: () => lxd.pushFile(ref, path, content, mode) });

  const folders = [LIB_DIR, CONF_DIR, ...(mode === 'snapshot' ? [TLS_DIR] : [])].filter((dir) => !state.dirs.includes(dir));
  if (folders.length) {
    const modes = DIRS.filter((dir) => folders.includes(dir.path));
    actions.push({
      describe: `create ${folders.join(', ')}`,
      run: () => execIn(lxd, ref, modes.map((dir) => `mkdir -p -m ${dir.mode.toString(8)} ${shellQuote(dir.path)}`).join(' && '), `cannot create ${folders.join(', ')}`),
    });
  }

  const trust = await lxd.listCertificates(ref.remote);
  let snapshotConf: HookConfig['snapshot'];
  const generated: Record<string, string> = {};
  if (mode === 'snapshot') {
    requireFeatures(api, ['proxyDevice', 'restrictedCertificates', 'snapshotExpiry'], serverLabel(ref.remote));
    if (instance.type === 'virtual-machine') {
      throw new CannotInstall(`${target.text} is a virtual machine: its proxy devices need NAT mode and a network, so snapshot mode is for containers only (guard mode works)`);
    }
    if (!state.curl) {
      const { hostInstance, hostOptions } = hostNaming(target.ref, project, lxd.dialect.client);
      throw new CannotInstall(`curl is not installed in ${target.text}; snapshot mode's hook asks LXD for the snapshot with it. Install it first: safeupdate ${hostInstance}${hostOptions ? ` ${hostOptions}` : ''} -- apt-get install -y curl`);
    }
    const server = await lxd.getServer(ref.remote);
    if (!server.httpsAddress) {
      const remote = ref.remote ? `${ref.remote}:` : '';
      const { server, client } = lxd.dialect;
      throw new CannotInstall(`${server} ${remote} does not listen on HTTPS, which the hook reaches through a proxy device: ${client} config set ${remote ? `${remote} ` : ''}core.https_address 127.0.0.1:8443`);
    }
    const connect = loopbackConnectAddress(server.httpsAddress);
    if (!connect) {
      throw new CannotInstall(`LXD listens on ${server.httpsAddress} only; the proxy device connects to it on the host's loopback: make it listen on 127.0.0.1 or on all addresses`);
    }
    if (!server.certificate || !namesLoopback(server.certificate)) {
      throw new CannotInstall("LXD's server certificate does not name 127.0.0.1, the address the hook connects to inside the instance");
    }
    const device = proxyDevice(options.port, connect);
    const existing = instance.devices[DEVICE_NAME];
    if (!sameDevice(existing, device)) {
      if (state.listeningPorts.includes(options.port) && existing?.listen !== device.listen) {
        throw new CannotInstall(`port ${options.port} is in use inside ${target.text}; choose another for the hook with --port`);
      }
      if (existing) actions.push({ describe: `remove the old proxy device ${DEVICE_NAME} (${existing.listen} → ${existing.connect})`, run: () => lxd.removeDevice(ref, DEVICE_NAME) });
      actions.push({
        describe: `add the proxy device ${DEVICE_NAME}: ${device.listen} inside → ${device.connect} on the host (LXD's API, on the instance's loopback only)`,
        run: () => lxd.addDevice(ref, DEVICE_NAME, device),
      });
    }

    const installed = state.files.get(PATHS.clientCert)?.content ?? null;
    const key = state.files.get(PATHS.clientKey);
    let fingerprint: string;
    const current = installed ? certificateFingerprint(installed) : null;
    const trusted = current !== null
      && trust.some((entry) => entry.fingerprint === current && entry.restricted && entry.projects.length === 1 && entry.projects[0] === project);
    if (!trusted || key === undefined) {
      const pair = await deps.newCertificate(name);
      const made = certificateFingerprint(pair.certificate);
      if (!made) throw new CannotInstall('the new client certificate cannot be read back');
      fingerprint = made;
      actions.push(
        push(PATHS.clientKey, pair.key, SECRET, `write a new client key ${PATHS.clientKey} (root only)`),
        push(PATHS.clientCert, pair.certificate, SECRET, `write its certificate ${PATHS.clientCert}`),
        {
          describe: `trust it on ${ref.remote ?? 'the default remote'} for project ${project} only, as ${name} (${fingerprint.slice(0, 12)})`,
          run: () => lxd.addRestrictedCertificate(ref.remote, name, pair.certificate, [project]),
        },
      );
    } else {
      fingerprint = current;
    }
    if (trusted && key !== undefined && (key.mode !== SECRET || state.files.get(PATHS.clientCert)?.mode !== SECRET)) {
      actions.push({ describe: `make ${PATHS.clientKey} and ${PATHS.clientCert} root's alone (0600)`, run: () => execIn(lxd, ref, `chmod 600 ${shellQuote(PATHS.clientKey)} ${shellQuote(PATHS.clientCert)}`, 'cannot chmod') });
    }
    actions.push(...revoke(lxd, ref, stale(trust, name, [conf.cert_fingerprint]).filter((entry) => entry.fingerprint !== fingerprint)));
    const serverCert = state.files.get(PATHS.serverCert);
    if (serverCert?.content !== server.certificate || serverCert.mode !== SECRET) {
      actions.push(push(PATHS.serverCert, server.certificate, SECRET, `${serverCert ? 'update' : 'write'} ${PATHS.serverCert} (LXD's certificate, the only one the hook trusts)`));
    }
    const instanceId = (await lxd.getConfig(ref))['volatile.cloud-init.instance-id'] ?? '';
    if (!instanceId) notes.push('LXD reports no instance-id for it: the hook cannot tell this instance from a copy of it');
    if (!state.devlxd) notes.push('no /dev/lxd in the instance (security.devlxd=false): the hook cannot tell this instance from a copy of it');
    snapshotConf = {
      lxdUrl: `https://127.0.0.1:${options.port}`,
      instanceId,
      expirySeconds: target.expiryMs === null ? 0 : Math.round(target.expiryMs / 1000),
      snapshotTimeoutSeconds: SNAPSHOT_TIMEOUT_SECONDS,
      certFingerprint: fingerprint,
    };
    const checks = renderChecks(target.checks, state.systemd, target.text, version);
    generated[PATHS.checks] = checks.text;
    notes.push(checks.run.length ? `checks after dpkg: ${checks.run.join(', ')}` : 'no checks after dpkg (no systemd, no unit: or exec: checks configured)');
    for (const skipped of checks.skipped) notes.push(`not run by the hook: ${skipped}`);
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

  generated[PATHS.hookConf] = renderHookConf({
    mode,
    instance: ref.name,
    project,
    ...hostNaming(target.ref, project, lxd.dialect.client),
    disabledUnits: [...new Set([...recorded, ...disable])],
    ...(snapshotConf ? { snapshot: snapshotConf } : {}),
  }, version);
  for (const spec of MODE_FILES[mode]) {
    const content = desiredContent(spec.template, spec.path, version, generated);
    const current = state.files.get(spec.path);
    if (current?.content === content && current.mode === spec.mode) continue;
    actions.push(push(spec.path, content, spec.mode, `${current ? 'update' : 'write'} ${spec.path}`));
  }

  // The other mode's files; guard mode keeps no key, device or trust entry.
  const keep = new Set(MODE_FILES[mode].map((spec) => spec.path));
  const other = MODE_FILES[mode === 'guard' ? 'snapshot' : 'guard'].map((spec) => spec.path).filter((path) => !keep.has(path));
  for (const path of [...other, ...(mode === 'guard' ? TLS_FILES : [])]) {
    if (state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  }
  if (mode === 'guard') {
    if (state.dirs.includes(TLS_DIR)) actions.push({ describe: `remove ${TLS_DIR}`, run: () => lxd.removeFile(ref, TLS_DIR) });
    if (instance.devices[DEVICE_NAME]) actions.push({ describe: `remove the proxy device ${DEVICE_NAME}`, run: () => lxd.removeDevice(ref, DEVICE_NAME) });
    actions.push(...revoke(lxd, ref, stale(trust, name, [conf.cert_fingerprint])));
  }

  return {
    instance: target.text,
    actions,
    notes,
    done: `${mode} hook installed (${version})`,
    nothingToDo: `${mode} hook already installed (${version}); nothing changed`,
  };
}

/** The trust entries that are this instance's: by name, or by a fingerprint the hook recorded. */
function stale(trust: TrustedCertificate[], name: string, fingerprints: Array<string | null | undefined>): TrustedCertificate[] {
  const known = new Set(fingerprints.filter((fp): fp is string => !!fp));
  return trust.filter((entry) => entry.name === name || known.has(entry.fingerprint));
}

function revoke(lxd: Lxd, ref: InstanceRef, entries: TrustedCertificate[]): Action[] {
  return entries.map((entry) => ({
    describe: `remove the trust entry ${entry.name || '(no name)'} (${entry.fingerprint.slice(0, 12)}) from ${ref.remote ?? 'the default remote'}`,
    run: () => lxd.deleteCertificate(ref.remote, entry.fingerprint),
  }));
}

/**
 * Uninstalling: every file of the hook (its records and log too), the proxy device and the trust
 * entry; apt's timers that install disabled are enabled again. Folders go when they are empty.
 * An instance that is gone leaves only its trust entry behind, which is removed by name.
 */
export async function planUninstall(deps: HookDeps, target: HookTarget): Promise<Plan> {
  const { lxd } = deps;
  const looked = await lookAt(lxd, target, 'uninstall the hook');
  const notes: string[] = [];
  const base = { instance: target.text, notes, done: 'hook removed: no file, device or trust entry of it is left', nothingToDo: 'no hook installed; nothing changed' };
  if ('missing' in looked) {
    const name = trustName(looked.missing.name, looked.missing.project ?? 'default');
    const entries = stale(await lxd.listCertificates(looked.missing.remote), name, []);
    if (entries.length === 0) throw new CannotInstall(`instance ${target.text} does not exist`);
    return { ...base, actions: revoke(lxd, looked.missing, entries), done: `instance ${target.text} does not exist; its trust entry was removed` };
  }
  const { ref, project, instance, state, conf } = looked;
  const actions: Action[] = [];
  // The snippets first: from then on apt runs without the hook, whatever else is left.
  const first = [PATHS.guardAptConf, PATHS.snapshotAptConf];
  for (const path of first) if (state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  const enable = (conf.disabled_units ?? '').split(' ').filter((unit) => unit && state.units[unit] === 'disabled');
  if (enable.length) {
    actions.push({
      describe: `enable ${enable.join(', ')} again (install had disabled them)`,
      run: () => execIn(lxd, ref, `systemctl enable --now ${enable.join(' ')}`, `cannot enable ${enable.join(', ')}`),
    });
  }
  for (const path of ALL_PATHS) {
    if (!first.includes(path as (typeof first)[number]) && state.files.has(path)) actions.push({ describe: `remove ${path}`, run: () => lxd.removeFile(ref, path) });
  }
  for (const { path } of DIRS) {
    if (!state.dirs.includes(path)) continue;
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
  if (instance.devices[DEVICE_NAME]) actions.push({ describe: `remove the proxy device ${DEVICE_NAME}`, run: () => lxd.removeDevice(ref, DEVICE_NAME) });
  const installed = state.files.get(PATHS.clientCert)?.content;
  const fingerprints = [conf.cert_fingerprint, installed ? certificateFingerprint(installed) : null];
  actions.push(...revoke(lxd, ref, stale(await lxd.listCertificates(ref.remote), trustName(ref.name, project), fingerprints)));
  return { ...base, actions };
}
