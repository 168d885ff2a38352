import type { Attempt } from './check.js';

const SCRIPT = [
  'command -v systemctl >/dev/null || { echo no-systemd; exit 0; }',
  'systemctl is-system-running',
  'echo ---',
  'systemctl list-units --failed --plain --no-legend --no-pager | cut -d" " -f1',
  'echo ---',
  'systemctl list-jobs --no-legend --no-pager | wc -l',
].join('; ');

/**
 * Healthy when systemd has finished starting, no job is queued, and no unit has failed that was
 * not already failed at baseline: containers are often `degraded` for harmless reasons.
 */
export const systemdAttempt: Attempt = async ({ lxd, ref, phase, baselineFailedUnits, signal }, timeoutMs) => {
  const result = await lxd.exec(ref, ['sh', '-c', SCRIPT], { timeoutMs, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) return { state: 'retry', message: `could not ask systemd: exit ${result.exitCode}` };
  if (result.stdout.trim() === 'no-systemd') return { state: 'fail', message: 'systemd is not installed in the instance' };
  const [stateText = '', failedText = '', jobsText = '0'] = result.stdout.split('---\n');
  const systemState = stateText.trim();
  const failedUnits = failedText.split('\n').map((unit) => unit.trim()).filter(Boolean).sort();
  if (systemState === 'initializing' || systemState === 'starting') {
    return { state: 'retry', message: `system is ${systemState}`, failedUnits };
  }
  if (systemState !== 'running' && systemState !== 'degraded') {
    return { state: 'retry', message: `system is ${systemState || 'not answering'}`, failedUnits };
  }
  const newlyFailed = phase === 'baseline' ? [] : failedUnits.filter((unit) => !baselineFailedUnits.includes(unit));
  if (newlyFailed.length > 0) {
    return { state: 'fail', message: `failed units: ${newlyFailed.join(', ')}`, failedUnits };
  }
  const jobs = Number(jobsText.trim()) || 0;
  if (jobs > 0) return { state: 'retry', message: `${jobs} systemd job(s) still queued`, failedUnits };
  const already = failedUnits.length ? ` (already failed before: ${failedUnits.join(', ')})` : '';
  return { state: 'pass', message: `${systemState}, no new failed units${already}`, confirmKey: 'steady', failedUnits };
};
