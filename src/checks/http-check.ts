import { resolveAddress } from './address.js';
import type { Attempt } from './check.js';

/** Healthy on a 2xx status and, where `expect` is set, a body that contains it. */
export function httpAttempt(urlTemplate: string, expect: string | null): Attempt {
  return async (context, timeoutMs) => {
    const url = await resolveAddress(urlTemplate, context);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      const body = await response.text();
      if (response.status < 200 || response.status > 299) return { state: 'retry', message: `HTTP ${response.status} from ${url}` };
      if (expect !== null && !body.includes(expect)) return { state: 'retry', message: `HTTP ${response.status} from ${url}, but the body lacks "${expect}"` };
      return { state: 'pass', message: `HTTP ${response.status}${expect !== null ? `, body has "${expect}"` : ''}` };
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : (cause?.code ?? cause?.message ?? (error as Error).message);
      return { state: 'retry', message: `${url}: ${why}` };
    }
  };
}
