// Snapshot mode's host side: the instance's registration, the broker's socket unit, and the proxy
// device that is the instance's only way to the broker. No credential goes into the instance.
import type { DeviceConfig, Lxd } from '../lxd/lxd.js';
import { requireFeatures, serverLabel } from '../lxd/extensions.js';
import { isSameRegistration, readRegistration, registrationFile, registrationKey, removeRegistration, socketPath, writeRegistration, REGISTRATION_DEFAULTS, type Registration } from './broker/registration.js';
import { socketUnit, type HostServices } from './broker-units.js';
import { CannotInstall } from './certificate.js';
import type { Looked } from './instance-state.js';
import { BROKER_SOCKET_INSIDE, DEVICE_NAME } from './layout.js';
import type { Action } from './plan.js';

export interface BrokerDeps {
  lxd: Lxd;
  version: string;
  stateDir: string;
  services: HostServices;
  env: NodeJS.ProcessEnv;
}

export function brokerDevice(key: string): DeviceConfig {
  return { type: 'proxy', listen: `unix:${BROKER_SOCKET_INSIDE}`, connect: `unix:${socketPath(key)}`, bind: 'instance', mode: '0600', uid: '0', gid: '0' };
}

export function sameDevice(a: DeviceConfig | undefined, b: DeviceConfig): boolean {
  if (!a) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

/** How the operator starts the broker on a host without systemd. */
export function manualBrokerCommand(key: string): string {
  return `safeupdate hooks broker ${key} --listen`;
}

/**
 * The broker serves instances of the daemon on this host: the proxy device connects to a socket on
 * the host that runs the instance, which is this one only for the client's `local` remote.
 */
export async function planBroker(
  deps: BrokerDeps,
  looked: Looked,
  settings: { text: string; hostInstance: string; hostOptions: string; expiryMs: number | null },
): Promise<{ actions: Action[]; notes: string[]; key: string }> {
  const { lxd, stateDir, services, version } = deps;
  const { ref, project, instance, api } = looked;
  requireFeatures(api, ['proxyDevice', 'snapshotExpiry'], serverLabel(ref.remote));
  if (instance.type === 'virtual-machine') throw new CannotInstall(`${settings.text} is a virtual machine: snapshot mode's proxy device needs a container (guard mode works)`);
  if (ref.remote !== 'local') {
    throw new CannotInstall(`${settings.text} is on the remote ${ref.remote}: snapshot mode's broker runs on the host of the instance's daemon. Run "safeupdate hooks install" on that host, for its local instance`);
  }
  if (!looked.state.perl) throw new CannotInstall(`perl is not in ${settings.text} (Debian's perl-base, which is essential): the hook's request to the host needs it`);
  const key = registrationKey(lxd.dialect.client, project, ref.name);
  if (!key) throw new CannotInstall(`${settings.text} (project ${project}): the names make no safe socket path; snapshot mode needs names of letters, digits, - and _`);
  const uuid = (await lxd.getConfig(ref))['volatile.uuid'];
  if (!uuid) throw new CannotInstall(`${lxd.dialect.server} reports no volatile.uuid for ${settings.text}: the broker could not tell it from another instance of the same name`);

  const actions: Action[] = [];
  const notes: string[] = [];
  const registration: Registration = {
    key, client: lxd.dialect.client, daemonDir: deps.env[lxd.dialect.daemonDirEnv] || lxd.dialect.daemonDir, project, instance: ref.name, uuid,
    hostInstance: settings.hostInstance, hostOptions: settings.hostOptions,
    expirySeconds: settings.expiryMs === null ? null : Math.round(settings.expiryMs / 1000),
    ...REGISTRATION_DEFAULTS, version,
  };
  let existing: Registration | null = null;
  try {
    existing = await readRegistration(stateDir, key);
  } catch {
    // A corrupt registration is replaced.
  }
  if (!existing || !isSameRegistration(existing, registration)) {
    actions.push({ describe: `${existing ? 'update' : 'write'} the host's registration ${registrationFile(stateDir, key)} (what the broker believes; never what the instance says)`, run: () => writeRegistration(stateDir, registration) });
  }
  if (services.systemd) {
    const stale = await services.staleUnits(version);
    if (Object.keys(stale).length) actions.push({ describe: `write ${Object.keys(stale).join(', ')} and reload systemd`, run: () => services.writeUnits(stale) });
    if (!(await services.socketEnabled(key))) actions.push({ describe: `enable and start ${socketUnit(key)} (${socketPath(key)}, root only)`, run: () => services.enableSocket(key) });
  } else {
    notes.push(`systemd does not run on this host: start the broker yourself and keep it running: ${manualBrokerCommand(key)} (until it runs, the hook refuses dpkg: no snapshot, no change)`);
  }
  const device = brokerDevice(key);
  const current = instance.devices[DEVICE_NAME];
  if (!sameDevice(current, device)) {
    if (current) actions.push({ describe: `remove the proxy device ${DEVICE_NAME} (${current.listen ?? '?'} → ${current.connect ?? '?'})`, run: () => lxd.removeDevice(ref, DEVICE_NAME) });
    actions.push({
      describe: `add the proxy device ${DEVICE_NAME}: ${device.listen} inside (root only) → ${device.connect} on the host, this instance's broker and nothing else`,
      run: () => lxd.addDevice(ref, DEVICE_NAME, device),
    });
  }
  if (instance.location !== null) notes.push(`in a cluster the broker must run on the member that holds ${settings.text} (${instance.location}); after a move, install again there`);
  return { actions, notes, key };
}

/** Snapshot mode's host side taken down: the device, the socket unit, the registration. */
export async function planBrokerRemoval(deps: BrokerDeps, looked: Pick<Looked, 'ref' | 'project'> & { devices: Record<string, DeviceConfig> }): Promise<Action[]> {
  const { lxd, stateDir, services } = deps;
  const actions: Action[] = [];
  if (looked.devices[DEVICE_NAME]) actions.push({ describe: `remove the proxy device ${DEVICE_NAME}`, run: () => lxd.removeDevice(looked.ref, DEVICE_NAME) });
  const key = registrationKey(lxd.dialect.client, looked.project, looked.ref.name);
  if (!key) return actions;
  if (services.systemd && (await services.socketEnabled(key))) actions.push({ describe: `stop and disable ${socketUnit(key)}`, run: () => services.disableSocket(key) });
  const registered = await readRegistration(stateDir, key).catch(() => 'corrupt' as const);
  if (registered) actions.push({ describe: `remove the host's registration ${registrationFile(stateDir, key)}`, run: () => removeRegistration(stateDir, key) });
  return actions;
}
