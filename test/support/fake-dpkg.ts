import { DPKG_LOCK_SCRIPT } from '../../src/packages/dpkg-lock.js';
import { execResult, type FakeLxd } from './fake-lxd.js';

// The execs of run/steps/dpkg.ts, for scripted runs of an apt command (FakeLxd).

const argvOf = (args: unknown[]) => args[1] as string[];

export const isDpkgLockLook = (args: unknown[]) => argvOf(args)[2] === DPKG_LOCK_SCRIPT;
export const isAptPrepare = (args: unknown[]) => argvOf(args)[3] === 'safeupdate-apt-prepare';
export const isAptFinish = (args: unknown[]) => argvOf(args)[3] === 'safeupdate-apt-finish';

/** dpkg's lock, looked at before the snapshot: free at the first look. */
export function expectLockFree(lxd: FakeLxd): void {
  lxd.expect('exec', () => execResult({ stdout: 'free\n' }), isDpkgLockLook, "dpkg's lock (free)");
}

/** The apt configuration written before the update (and conffiles read, when `stdout` has them). */
export function expectAptPrepare(lxd: FakeLxd, stdout = ''): void {
  lxd.expect('exec', () => execResult({ stdout }), isAptPrepare, 'apt configuration written');
}

/** The apt configuration removed after the update (and conffiles read, when `stdout` has them). */
export function expectAptFinish(lxd: FakeLxd, stdout = ''): void {
  lxd.expect('exec', () => execResult({ stdout }), isAptFinish, 'apt configuration removed');
}
