import { formatDuration } from '../config/duration.js';
import type { ConffileOutcome } from '../packages/conffiles.js';
import { describeHolder } from '../packages/dpkg-lock.js';
import type { DpkgReport } from './report.js';

/** The wait for dpkg's lock in a few words; null when there is nothing worth saying (free at once, or not waited for). */
export function describeLockWait(dpkg: DpkgReport): string | null {
  const { lock } = dpkg;
  if (!lock || !lock.holders.length) return null;
  const holders = lock.holders.map(describeHolder).join(', ');
  if (lock.state === 'held') return `still held after ${formatDuration(lock.waitedMs)} (bound ${formatDuration(lock.boundMs)}) by ${holders}`;
  if (lock.state === 'interrupted') return `interrupted after waiting ${formatDuration(lock.waitedMs)} for ${holders}`;
  return `waited ${formatDuration(lock.waitedMs)} for ${holders}`;
}

export function describeConffile(conffile: ConffileOutcome): string {
  const side = conffile.sideFile ? `; ${conffile.outcome === 'kept' ? "the package's version is in" : 'yours is in'} ${conffile.sideFile}` : '';
  const what = { kept: 'kept yours', replaced: "replaced by the package's version", other: "neither yours nor the package's now" }[conffile.outcome];
  return `${conffile.path} (${conffile.package}): ${what}${side}`;
}

/** Every line the text renderers show for dpkg: the lock wait, then each conffile. */
export function dpkgLines(dpkg: DpkgReport | undefined): Array<{ label: 'dpkg lock' | 'conffile'; text: string }> {
  if (!dpkg) return [];
  const lock = describeLockWait(dpkg);
  return [
    ...(lock ? [{ label: 'dpkg lock' as const, text: lock }] : []),
    ...(dpkg.conffiles ?? []).map((conffile) => ({ label: 'conffile' as const, text: describeConffile(conffile) })),
  ];
}
