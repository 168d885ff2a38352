import { LxdError } from '../errors.js';
import type { RawInstance } from './api.js';
import type { RestApi } from './rest.js';

/**
 * As `lxc config set|unset` does it: read the instance, change its config, write it back with
 * If-Match, read again after a lost race (412). Not a PATCH: LXD's instance PATCH drops the
 * description it is not given, and newer LXD keeps an empty value (masking a profile's) where
 * unset removes the key.
 */
export async function updateInstanceConfig(direct: { api: RestApi; remote: string }, path: string, entries: Record<string, string | null>, timeoutMs: number): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const read = await direct.api.request(direct.remote, 'GET', path, { timeoutMs });
    const current = read.metadata as RawInstance & { architecture?: string; devices?: unknown; profiles?: string[]; stateful?: boolean; description?: string };
    const config = { ...(current.config ?? {}) };
    for (const [key, value] of Object.entries(entries)) {
      if (value === null) delete config[key];
      else config[key] = value;
    }
    const body = { architecture: current.architecture, config, devices: current.devices, ephemeral: current.ephemeral, profiles: current.profiles, stateful: current.stateful, description: current.description };
    try {
      await direct.api.request(direct.remote, 'PUT', path, { body, timeoutMs, ...(read.etag ? { ifMatch: read.etag } : {}) });
      return;
    } catch (error) {
      if (!(error instanceof LxdError && error.httpStatus === 412) || attempt === 3) throw error;
    }
  }
}
