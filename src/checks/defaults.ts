import type { ExecResult, InstanceRef, Lxd } from '../lxd/lxd.js';
import type { CheckDefinition } from './check.js';
import { defineCheck } from './spec.js';

/** Looks at /run/systemd/system before deciding; a look that cannot tell is tried again. */
export const SYSTEMD_PROBE_ATTEMPTS = 2;

/**
 * The checks for an instance when none are given anywhere: `systemd` where it runs systemd;
 * otherwise none, and a warning that only the update's exit code decides. Only a definite "no"
 * (`test -d` exits 1) means no systemd: a probe that timed out, was killed, or failed in LXD says
 * nothing, and checking nothing because of it would let a broken update through unnoticed. Then
 * the systemd check runs, retries within its own deadline, and says so if systemd is missing.
 */
export async function defaultChecks(lxd: Lxd, ref: InstanceRef): Promise<{ checks: CheckDefinition[]; warning: string | null }> {
  for (let attempt = 1; attempt <= SYSTEMD_PROBE_ATTEMPTS; attempt += 1) {
    const answer = await probeSystemd(lxd, ref);
    if (answer === 'yes') break;
    if (answer === 'no') return { checks: [], warning: 'no health checks configured and the instance does not run systemd' };
  }
  return { checks: [defineCheck('systemd')], warning: null };
}

async function probeSystemd(lxd: Lxd, ref: InstanceRef): Promise<'yes' | 'no' | 'unknown'> {
  let result: ExecResult;
  try {
    result = await lxd.exec(ref, ['test', '-d', '/run/systemd/system'], { timeoutMs: 10_000 });
  } catch {
    return 'unknown';
  }
  if (result.timedOut || result.canceled || result.signal !== null) return 'unknown';
  if (result.exitCode === 0) return 'yes';
  // `test` says nothing on stderr; the lxc client's own failures also exit 1, with "Error: …" there.
  if (result.exitCode === 1 && result.stderr.trim() === '') return 'no';
  return 'unknown';
}
