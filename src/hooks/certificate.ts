import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ClientCertificate {
  certificate: string;
  key: string;
}

/** Why snapshot mode cannot be set up from here: exit 3, nothing changed. */
export class CannotInstall extends Error {
  override name = 'CannotInstall';
}

/**
 * A new client key and self-signed certificate, made with openssl (Node cannot make certificates):
 * P-384 as LXD's own, ten years, for client authentication only. Made in a private temporary folder,
 * which is removed at once; only the instance keeps the key.
 */
export async function newClientCertificate(commonName: string): Promise<ClientCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'safeupdate-cert-'));
  try {
    const key = join(dir, 'client.key');
    const certificate = join(dir, 'client.crt');
    const { execa } = await import('execa');
    const result = await execa(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-nodes', '-keyout', key, '-out', certificate,
        '-days', '3650', '-subj', `/CN=${commonName}`, '-addext', 'extendedKeyUsage=clientAuth'],
      { reject: false, timeout: 30_000, stdin: 'ignore' },
    );
    if (result.code === 'ENOENT') throw new CannotInstall('openssl is not installed on this host; snapshot mode needs it to make the client certificate');
    if (result.exitCode !== 0) throw new CannotInstall(`openssl could not make a client certificate: ${String(result.stderr).trim() || `exit ${result.exitCode}`}`);
    return { certificate: await readFile(certificate, 'utf8'), key: await readFile(key, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** LXD's fingerprint of a certificate: SHA-256 of the DER, lower-case hex. null when it is not one. */
export function certificateFingerprint(pem: string): string | null {
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    return null;
  }
}

/** The hook connects to https://127.0.0.1:PORT inside: the server's certificate must name that address. */
export function namesLoopback(pem: string): boolean {
  try {
    return new X509Certificate(pem).checkIP('127.0.0.1') !== undefined;
  } catch {
    return false;
  }
}

const LOOPBACK_OR_ANY = new Set(['', '0.0.0.0', '::', '127.0.0.1', '::1', 'localhost']);

/**
 * Where the proxy device connects on the host, from LXD's `core.https_address`: its loopback, at
 * LXD's port. null when LXD listens only on another address: the host side stays on loopback.
 */
export function loopbackConnectAddress(httpsAddress: string): string | null {
  const match = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d+))?$/.exec(httpsAddress.trim());
  if (!match) return null;
  const host = match[1] ?? match[2] ?? '';
  const port = match[3] ?? '8443';
  if (!LOOPBACK_OR_ANY.has(host)) return null;
  return host === '::1' ? `[::1]:${port}` : `127.0.0.1:${port}`;
}
