// The certificate-based snapshot mode, before the broker, put a client key trusted by LXD into the
// instance: whoever was root inside held it, and through it the host. Every install and uninstall
// removes what is left of it: the trust entry first (that is what makes the key worthless, also in
// snapshots that still hold a copy of the file), then the key files and the proxy device.
import type { Lxd, TrustedCertificate } from '../lxd/lxd.js';
import { certificateFingerprint } from './certificate.js';
import { OLD_CLIENT_CERT, OLD_DEVICE_NAME, OLD_TLS_DIR, OLD_TLS_FILES, trustName } from './layout.js';
import type { Action } from './plan.js';
import type { InstanceHookState, Looked } from './instance-state.js';

/** The trust entries that are this instance's hook's: by name, or by the fingerprint of the certificate in it. */
export function oldTrustEntries(trust: TrustedCertificate[], name: string, state: InstanceHookState | null, recorded: string | undefined): TrustedCertificate[] {
  const installed = state?.files.get(OLD_CLIENT_CERT)?.content;
  const known = new Set([recorded, installed ? certificateFingerprint(installed) : null].filter((fp): fp is string => !!fp));
  return trust.filter((entry) => entry.name === name || known.has(entry.fingerprint));
}

export function revoke(lxd: Lxd, remote: string | null, entries: TrustedCertificate[]): Action[] {
  return entries.map((entry) => ({
    describe: `revoke the old hook's trust entry ${entry.name || '(no name)'} (${entry.fingerprint.slice(0, 12)}) on ${remote ?? 'the default remote'}: its key no longer reaches LXD`,
    run: () => lxd.deleteCertificate(remote, entry.fingerprint),
  }));
}

/** What the old mode left in and around the instance; empty when it left nothing. */
/** `removes`: the paths in the instance its actions delete, so that an uninstall does not plan them twice. */
export async function planMigration(lxd: Lxd, looked: Looked): Promise<{ actions: Action[]; found: string[]; removes: string[] }> {
  const { ref, project, instance, state, conf } = looked;
  const entries = oldTrustEntries(await lxd.listCertificates(ref.remote), trustName(ref.name, project), state, conf.cert_fingerprint);
  const actions = revoke(lxd, ref.remote, entries);
  const found = entries.map((entry) => `trust entry ${entry.name || entry.fingerprint.slice(0, 12)}`);
  const removes: string[] = [];
  for (const path of OLD_TLS_FILES) {
    if (!state.files.has(path)) continue;
    found.push(path);
    removes.push(path);
    actions.push({ describe: `delete ${path} (the old hook's ${path.endsWith('.key') ? 'LXD client key' : 'certificate'})`, run: () => lxd.removeFile(ref, path) });
  }
  if (state.dirs.includes(OLD_TLS_DIR)) {
    removes.push(OLD_TLS_DIR);
    actions.push({ describe: `remove ${OLD_TLS_DIR}`, run: () => lxd.removeFile(ref, OLD_TLS_DIR) });
  }
  const device = instance.devices[OLD_DEVICE_NAME];
  if (device) {
    found.push(`proxy device ${OLD_DEVICE_NAME}`);
    actions.push({ describe: `remove the old proxy device ${OLD_DEVICE_NAME} (${device.listen ?? '?'} → ${device.connect ?? '?'}: LXD's API inside)`, run: () => lxd.removeDevice(ref, OLD_DEVICE_NAME) });
  }
  return { actions, found, removes };
}

export const MIGRATION_NOTE = 'the old certificate-based snapshot mode was found and removed: its LXD key is revoked, so copies of it in older snapshots are worthless';
