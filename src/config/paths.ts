import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where runs keep their reports, logs and evidence. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SAFEUPDATE_STATE_DIR) return env.SAFEUPDATE_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'safeupdate');
  if (process.getuid?.() === 0) return '/var/lib/safeupdate';
  return join(homedir(), '.local', 'state', 'safeupdate');
}
