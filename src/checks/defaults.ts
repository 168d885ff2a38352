import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import type { CheckDefinition } from './check.js';
import { defineCheck } from './spec.js';

/**
 * The checks for an instance when none are given anywhere: `systemd` where it runs systemd;
 * otherwise none, and a warning that only the update's exit code decides.
 */
export async function defaultChecks(lxd: Lxd, ref: InstanceRef): Promise<{ checks: CheckDefinition[]; warning: string | null }> {
  const probe = await lxd.exec(ref, ['test', '-d', '/run/systemd/system'], { timeoutMs: 10_000 });
  if (probe.exitCode === 0) return { checks: [defineCheck('systemd')], warning: null };
  return { checks: [], warning: 'no health checks configured and the instance does not run systemd' };
}
