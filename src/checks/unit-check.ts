import type { Attempt } from './check.js';
import { lastLine } from './exec-check.js';

/**
 * Healthy when the systemd unit is `active`; `activating` is waited for, `failed` is final, and so
 * is `inactive` with no job queued where nothing of ours is starting it (baseline, a plain check).
 */
export function unitAttempt(unit: string): Attempt {
  return async ({ lxd, ref, phase, signal }, timeoutMs) => {
    const result = await lxd.exec(
      ref,
      ['systemctl', 'show', '--property=LoadState,ActiveState,SubState,Result,InvocationID,NRestarts,Job', '--', unit],
      { timeoutMs, ...(signal ? { signal } : {}) },
    );
    if (result.exitCode !== 0) {
      return { state: 'retry', message: `systemctl show failed: ${lastLine(result.stderr) || `exit ${result.exitCode}`}` };
    }
    const props = parseProperties(result.stdout);
    if (props.LoadState === 'not-found') return { state: 'fail', message: `unit ${unit} does not exist` };
    const state = `${props.ActiveState} (${props.SubState})`;
    switch (props.ActiveState) {
      case 'active':
        // A new invocation or another restart means it went down in between.
        return { state: 'pass', message: state, confirmKey: `${props.InvocationID}/${props.NRestarts}` };
      case 'failed':
        return { state: 'fail', message: `${state}, result ${props.Result}` };
      case 'inactive':
        if (!props.Job && (phase === 'baseline' || phase === 'check')) return { state: 'fail', message: `${state}, and nothing is starting it` };
        return { state: 'retry', message: state };
      default:
        return { state: 'retry', message: state };
    }
  };
}

export function parseProperties(text: string): Record<string, string> {
  const props: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return props;
}
