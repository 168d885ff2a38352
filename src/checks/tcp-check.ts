import { resolveAddress } from './address.js';
import type { Attempt, Observation } from './check.js';

/** How long an opened connection must stay open, silent or not, to count. */
export const TCP_HOLD_MS = 300;

/**
 * Healthy when a connection opens and the peer does not close it at once without a word: an LXD
 * proxy device accepts on the host side even when nothing listens inside, then closes at once.
 */
export function tcpAttempt(hostTemplate: string, port: number): Attempt {
  return async (context, timeoutMs) => {
    const host = await resolveAddress(hostTemplate, context);
    // node:net loads at the first attempt, not at every start (--help too): Node compiles it on load.
    const { connect } = await import('node:net');
    return new Promise<Observation>((resolve) => {
      const socket = connect({ host, port });
      let hold: NodeJS.Timeout | undefined;
      const done = (observation: Observation) => {
        clearTimeout(timer);
        clearTimeout(hold);
        socket.destroy();
        resolve(observation);
      };
      let connected = false;
      // The attempt's time may run out while an opened connection is still being held.
      const timer = setTimeout(() => done({
        state: 'retry',
        message: connected
          ? `${host}:${port}: connected, but the attempt's time (${timeoutMs / 1000}s) ran out before the connection had held ${TCP_HOLD_MS} ms`
          : `${host}:${port}: no connection within ${timeoutMs / 1000}s`,
      }), timeoutMs);
      socket.once('connect', () => {
        connected = true;
        hold = setTimeout(() => done({ state: 'pass', message: `${host}:${port} accepts connections` }), TCP_HOLD_MS);
        socket.once('data', () => {
          clearTimeout(hold);
          done({ state: 'pass', message: `${host}:${port} accepts connections and speaks` });
        });
        socket.once('close', () => {
          clearTimeout(hold);
          done({ state: 'retry', message: `${host}:${port} closed the connection at once (a proxy with nothing listening behind it?)` });
        });
      });
      socket.once('error', (error: NodeJS.ErrnoException) => done({ state: 'retry', message: `${host}:${port}: ${error.code ?? error.message}` }));
    });
  };
}
