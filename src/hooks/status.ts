import { LxdError } from '../errors.js';
import type { DeviceConfig } from '../lxd/lxd.js';
import { EXIT } from '../report/exit-codes.js';
import { brokerDevice, sameDevice } from './broker-plan.js';
import { readRegistration, registrationKey } from './broker/registration.js';
import { CannotInstall } from './certificate.js';
import { parseRunRecord, readHookState, type HookRunRecord } from './instance-state.js';
import type { HookDeps, HookTarget } from './install.js';
import { APT_UNITS, DEVICE_NAME, GUARD_LOG, HOOK_MODES, LAST_RUN, MODE_FILES, OLD_DEVICE_NAME, OLD_TLS_FILES, PATHS, trustName, type HookMode } from './layout.js';
import { oldTrustEntries } from './migration.js';
import { hookVersionOf, parseHookConf, readTemplate, renderTemplate } from './render.js';

const RECENT_LOG_LINES = 5;

export interface HookFileStatus {
  path: string;
  /** Its version line; null when it has none. */
  version: string | null;
  /** `current`: as this safeupdate would install it; `modified`: same version, other content; `other-version`. */
  state: 'current' | 'modified' | 'other-version';
}

export interface HookStatus {
  instance: string;
  exitCode: number;
  error: string | null;
  /** The installed mode; null when no hook is installed. */
  mode: HookMode | null;
  /** This safeupdate's version, which install writes into every hook file. */
  packageVersion: string;
  files: HookFileStatus[];
  upToDate: boolean;
  device: DeviceConfig | null;
  /** Snapshot mode's host side: the broker's key, and whether its registration and socket unit are there. */
  broker: { key: string; registered: boolean; socketUnit: 'enabled' | 'disabled' | 'no systemd' } | null;
  /** What the old certificate-based snapshot mode left (a trust entry, key files, its device): insecure until removed. */
  insecureLeftovers: string[];
  /** apt's timers in the instance, as systemctl says, and those install disabled. */
  units: Record<string, string>;
  disabledByInstall: string[];
  lastRun: HookRunRecord | null;
  /** The last lines of the hooks' log (refusals, bypasses, runs let through), oldest first. */
  recentLog: string[];
  /** What is missing or wrong, in words; empty when all is well. */
  problems: string[];
}

/** Which hook is installed, which version its files are, and what the hook's last run recorded. Read-only. */
export async function readHookStatus(deps: HookDeps, target: HookTarget): Promise<HookStatus> {
  const { lxd, version } = deps;
  const status: HookStatus = {
    instance: target.text, exitCode: EXIT.ok, error: null, mode: null, packageVersion: version, files: [], upToDate: true,
    device: null, broker: null, insecureLeftovers: [], units: {}, disabledByInstall: [], lastRun: null, recentLog: [], problems: [],
  };
  try {
    const ref = await lxd.resolveRef(target.ref);
    await lxd.checkReachable(ref.remote);
    const instance = await lxd.getInstance(ref);
    if (!instance) throw new CannotInstall(`instance ${target.text} does not exist`);
    if (instance.status !== 'Running') throw new CannotInstall(`${target.text} is ${instance.status}: start it to look inside`);
    const state = await readHookState(lxd, ref);
    const conf = parseHookConf(state.files.get(PATHS.hookConf)?.content ?? '');
    const project = ref.project ?? 'default';
    const snippets: Array<[HookMode, string]> = [['guard', PATHS.guardAptConf], ['snapshot', PATHS.snapshotAptConf]];
    const active = snippets.filter(([, path]) => state.files.has(path)).map(([mode]) => mode);
    const configured = HOOK_MODES.find((mode) => mode === conf.mode) ?? null;
    status.mode = active[0] ?? configured;
    status.units = state.units;
    status.disabledByInstall = (conf.disabled_units ?? '').split(' ').filter(Boolean);
    status.device = instance.devices[DEVICE_NAME] ?? null;
    const entries = oldTrustEntries(await lxd.listCertificates(ref.remote), trustName(ref.name, project), state, conf.cert_fingerprint);
    status.insecureLeftovers = [
      ...entries.map((entry) => `trust entry ${entry.name || entry.fingerprint.slice(0, 12)} (an LXD client key trusted for project ${entry.projects.join(', ') || '(all)'})`),
      ...OLD_TLS_FILES.filter((path) => state.files.has(path)),
      ...(instance.devices[OLD_DEVICE_NAME] ? [`proxy device ${OLD_DEVICE_NAME} (LXD's API inside)`] : []),
    ];
    if (status.insecureLeftovers.length) {
      status.problems.push(`INSECURE: the old certificate-based snapshot mode is installed (${status.insecureLeftovers.join(', ')}): root inside can reach LXD with it; run "safeupdate hooks install ${target.text} --mode snapshot" (or uninstall) to remove it`);
    }
    const key = registrationKey(lxd.dialect.client, project, ref.name);
    if (key) {
      const registered = (await readRegistration(deps.stateDir, key).catch(() => null)) !== null;
      const socketUnit = deps.services.systemd ? ((await deps.services.socketEnabled(key)) ? 'enabled' : 'disabled') : 'no systemd';
      status.broker = registered || status.device ? { key, registered, socketUnit } : null;
    }
    const record = state.files.get(LAST_RUN)?.content;
    status.lastRun = record ? parseRunRecord(record) : null;
    status.recentLog = (state.files.get(GUARD_LOG)?.content ?? '').split('\n').filter(Boolean).slice(-RECENT_LOG_LINES);

    if (active.length > 1) status.problems.push('both the guard and the snapshot snippets are in /etc/apt/apt.conf.d: install again');
    if (status.mode === null) {
      const leftovers = [...state.files.keys()].filter((path) => Object.values(PATHS).includes(path as never));
      if (leftovers.length) status.problems.push(`no hook is on, but some of its files are there (${leftovers.join(', ')}): install or uninstall again`);
      if (status.device) status.problems.push(`no hook is on, but the proxy device ${DEVICE_NAME} is there: uninstall again`);
      if (status.broker?.registered) status.problems.push(`no hook is on, but the host still has its registration ${status.broker.key}: uninstall again`);
      status.upToDate = leftovers.length === 0;
      return status;
    }
    if (configured !== status.mode) status.problems.push(`hook.conf says mode ${conf.mode ?? '(none)'}, apt runs the ${status.mode} hook: install again`);
    for (const spec of MODE_FILES[status.mode]) {
      const file = state.files.get(spec.path);
      if (!file?.content) {
        status.problems.push(`${spec.path} is missing`);
        continue;
      }
      const fileVersion = hookVersionOf(file.content);
      const same = spec.template ? file.content === renderTemplate(readTemplate(spec.template), { version }) : fileVersion === version;
      status.files.push({ path: spec.path, version: fileVersion, state: same ? 'current' : fileVersion === version ? 'modified' : 'other-version' });
    }
    const stale = status.files.filter((file) => file.state !== 'current');
    if (stale.length) {
      status.problems.push(`${stale.map((f) => `${f.path} (${f.state === 'modified' ? 'changed by hand' : `version ${f.version ?? 'none'}`})`).join(', ')} differ from this safeupdate's (${version}): install again`);
    }
    if (status.mode === 'snapshot') {
      if (!status.device) status.problems.push(`the proxy device ${DEVICE_NAME} is missing: install again`);
      else if (key && !sameDevice(status.device, brokerDevice(key))) status.problems.push(`the proxy device ${DEVICE_NAME} is not the one install adds (${status.device.listen ?? '?'} → ${status.device.connect ?? '?'}): install again`);
      if (!status.broker?.registered) status.problems.push('the host has no registration for it, so its broker refuses every request: install again');
      if (status.broker?.socketUnit === 'disabled') status.problems.push(`the broker's socket unit is not enabled: install again`);
    }
    const enabledAgain = status.disabledByInstall.filter((unit) => state.units[unit] === 'enabled');
    if (enabledAgain.length) status.problems.push(`${enabledAgain.join(', ')} enabled again since install disabled them`);
    status.upToDate = status.problems.length === 0;
    return status;
  } catch (error) {
    if (!(error instanceof CannotInstall) && !(error instanceof LxdError)) throw error;
    return { ...status, exitCode: EXIT.couldNotStart, error: error.message, upToDate: false };
  }
}

/** apt's timers as status shows them: only those the instance has. */
export function describeUnits(units: Record<string, string>): string {
  return APT_UNITS.filter((unit) => units[unit] && units[unit] !== 'absent').map((unit) => `${unit} ${units[unit]}`).join(', ') || 'none';
}
