import { X509Certificate } from 'node:crypto';

/** Why snapshot mode cannot be set up from here: exit 3, nothing changed. */
export class CannotInstall extends Error {
  override name = 'CannotInstall';
}

/** LXD's fingerprint of a certificate (the old snapshot mode's, to find its trust entry): SHA-256 of the DER, lower-case hex. null when it is not one. */
export function certificateFingerprint(pem: string): string | null {
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    return null;
  }
}
