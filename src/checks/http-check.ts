import type { IncomingMessage } from 'node:http';
import { resolveAddress } from './address.js';
import type { Attempt, HttpsTrust } from './check.js';

/** Said in every result of a check that does not verify the server's certificate. */
export const INSECURE_NOTE = '(certificate not verified: insecure)';

/** Codes of a certificate whose issuer is not trusted: a CA of its own or `insecure` helps. */
const UNTRUSTED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?)$/;

/**
 * Healthy on a 2xx status and, where `expect` is set, a body that contains it. Redirects are not
 * followed. node:http(s) rather than fetch: fetch cannot take a CA of its own without undici.
 */
export function httpAttempt(urlTemplate: string, expect: string | null, tls?: HttpsTrust): Attempt {
  const note = tls && 'insecure' in tls ? ` ${INSECURE_NOTE}` : '';
  return async (context, timeoutMs) => {
    const url = await resolveAddress(urlTemplate, context);
    try {
      const { status, body } = await get(url, timeoutMs, tls);
      if (status < 200 || status > 299) return { state: 'retry', message: `HTTP ${status} from ${url}${note}` };
      if (expect !== null && !body.includes(expect)) return { state: 'retry', message: `HTTP ${status} from ${url}, but the body lacks "${expect}"${note}` };
      return { state: 'pass', message: `HTTP ${status}${expect !== null ? `, body has "${expect}"` : ''}${note}` };
    } catch (error) {
      return { state: 'retry', message: `${url}: ${describeError(error as NodeJS.ErrnoException, timeoutMs, tls)}${note}` };
    }
  };
}

class AttemptTimeout extends Error {
  override name = 'AttemptTimeout';
}

/** One GET, bounded as a whole (connect, headers and body) by `timeoutMs`. */
async function get(url: string, timeoutMs: number, tls: HttpsTrust | undefined): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  // Loaded at the first attempt, not at every start (--help too): Node compiles its HTTP and TLS
  // modules when they load, some 10 ms.
  const send = target.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request;
  return new Promise((resolve, reject) => {
    const trust = tls === undefined ? {} : 'insecure' in tls ? { rejectUnauthorized: false } : { ca: tls.ca };
    // No agent: one connection per attempt, closed after it, so nothing lingers between attempts.
    const req = send(target, { method: 'GET', agent: false, ...trust }, (res: IncomingMessage) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => chunks.push(chunk));
      res.on('end', () => finish(() => resolve({ status: res.statusCode ?? 0, body: chunks.join('') })));
      res.on('error', (error) => finish(() => reject(error)));
      res.on('close', () => finish(() => reject(new Error('the connection closed before the whole answer came'))));
    });
    const timer = setTimeout(() => {
      finish(() => reject(new AttemptTimeout()));
      req.destroy();
    }, timeoutMs);
    let settled = false;
    function finish(settle: () => void) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settle();
    }
    req.on('error', (error) => finish(() => reject(error)));
    req.end();
  });
}

function describeError(error: NodeJS.ErrnoException, timeoutMs: number, tls: HttpsTrust | undefined): string {
  if (error instanceof AttemptTimeout) return `no answer within ${timeoutMs / 1000}s`;
  if (!error.code) return error.message;
  // A certificate for another name, or expired: the code alone does not say which name or when.
  if (error.code.startsWith('ERR_TLS_CERT') || error.code.startsWith('CERT_')) return `${error.code} (${error.message})`;
  if (!UNTRUSTED.test(error.code)) return error.code;
  return tls && 'ca' in tls
    ? `${error.code}: the certificate is not signed by the CA in ${tls.caFile}`
    : `${error.code}: the certificate is not trusted; give its CA (ca: FILE) or skip verification (insecure: true) in the config file`;
}
