import type { Lxd, LxdCall } from '../lxd/lxd.js';

/** What a command reads and writes the world through; tests hand in their own. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Both stdin and stdout are terminals. */
  terminal: boolean;
  env: NodeJS.ProcessEnv;
  /** `--client` as given (lxc or incus); else SAFEUPDATE_CLIENT, else what is installed. */
  client?: string;
  /** The LXD access layer; tests hand in a scripted fake. */
  createLxd?: (onCall: (call: LxdCall) => void) => Lxd;
}
