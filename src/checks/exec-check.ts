import type { Attempt } from './check.js';

/** Healthy when the shell command exits 0 inside the instance. */
export function execAttempt(command: string): Attempt {
  return async ({ lxd, ref, signal }, timeoutMs) => {
    const result = await lxd.exec(ref, ['sh', '-c', command], { timeoutMs, ...(signal ? { signal } : {}) });
    if (result.exitCode === 0) return { state: 'pass', message: 'exit 0' };
    const said = lastLine(result.stderr) || lastLine(result.stdout);
    const how = result.timedOut ? `no answer within ${timeoutMs / 1000}s` : `exit ${result.exitCode ?? result.signal}`;
    return { state: 'retry', message: said ? `${how}: ${said}` : how };
  };
}

export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? '';
}
