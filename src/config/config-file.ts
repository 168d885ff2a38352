import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Config, Settings } from './config-schema.js';

export type { Config, Settings } from './config-schema.js';

export const CONFIG_SEARCH = ['./safeupdate.yaml', '/etc/safeupdate/config.yaml'];

/** `--config FILE`, else the first of ./safeupdate.yaml and /etc/safeupdate/config.yaml, else none. */
export async function loadConfig(explicit: string | undefined): Promise<Config> {
  const file = explicit ?? CONFIG_SEARCH.find((candidate) => existsSync(candidate));
  if (file === undefined) return { file: null };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  // The schema and its libraries are loaded only now: a command without a config file never pays for them.
  const { parseConfig } = await import('./config-schema.js');
  return { ...parseConfig(text, resolve(file)), file: resolve(file) };
}

/** Precedence: instance section over defaults; lists replace, they do not merge; env merges by key. */
export function settingsFor(config: Config, instance: string): Settings {
  const defaults = config.defaults ?? {};
  const own = config.instances?.[instance] ?? {};
  return { ...defaults, ...own, env: { ...defaults.env, ...own.env } };
}
