// The broker's systemd units on the host: a socket per hooked instance (safeupdate-hook@KEY.socket)
// and the service it activates. Installed by `hooks install --mode snapshot` where systemd runs;
// elsewhere the operator starts the broker (`safeupdate hooks broker KEY --listen`), as the lab does.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { LxdError } from '../errors.js';
import { selfCommand, shippedFile } from '../config/installation.js';
import { renderTemplate } from './render.js';

/** hooks/systemd of this safeupdate (see config/installation.ts for where that is). */
const UNIT_TEMPLATE_DIR = shippedFile('hooks/systemd/');
export const UNIT_DIR = '/etc/systemd/system';
export const BROKER_UNITS = ['safeupdate-hook@.socket', 'safeupdate-hook@.service'] as const;

export function socketUnit(key: string): string {
  return `safeupdate-hook@${key}.socket`;
}

/** What install and uninstall do to the host's services; a fake stands in for it in unit tests. */
export interface HostServices {
  /** systemd manages this host (it runs as PID 1). */
  systemd: boolean;
  /** The unit files as this safeupdate writes them, by path, when they differ from what is there (empty: up to date). */
  staleUnits(version: string): Promise<Record<string, string>>;
  writeUnits(files: Record<string, string>): Promise<void>;
  /** `systemctl enable --now` / `disable --now` of one instance's socket. */
  enableSocket(key: string): Promise<void>;
  disableSocket(key: string): Promise<void>;
  socketEnabled(key: string): Promise<boolean>;
}

export function renderUnit(template: string, version: string, command: string): string {
  return renderTemplate(template, { version }).replaceAll('@SAFEUPDATE@', command);
}

export function realHostServices(): HostServices {
  const systemctl = async (args: string[]): Promise<{ ok: boolean; output: string }> => {
    const { execa } = await import('execa');
    const result = await execa('systemctl', args, { reject: false, stdin: 'ignore', timeout: 60_000 });
    return { ok: result.exitCode === 0, output: `${String(result.stdout)}${String(result.stderr)}`.trim() };
  };
  const must = async (args: string[]) => {
    const result = await systemctl(args);
    if (!result.ok) throw new LxdError(`systemctl ${args.join(' ')}: ${result.output || 'failed'}`, 'failed', ['systemctl', ...args]);
  };
  return {
    systemd: existsSync('/run/systemd/system'),
    async staleUnits(version) {
      const command = selfCommand();
      const stale: Record<string, string> = {};
      for (const name of BROKER_UNITS) {
        const wanted = renderUnit(await readFile(`${UNIT_TEMPLATE_DIR}${name}`, 'utf8'), version, command);
        const path = `${UNIT_DIR}/${name}`;
        const current = await readFile(path, 'utf8').catch(() => null);
        if (current !== wanted) stale[path] = wanted;
      }
      return stale;
    },
    async writeUnits(files) {
      await mkdir(UNIT_DIR, { recursive: true });
      for (const [path, content] of Object.entries(files)) await writeFile(path, content, { mode: 0o644 });
      await must(['daemon-reload']);
    },
    enableSocket: (key) => must(['enable', '--now', socketUnit(key)]),
    disableSocket: (key) => must(['disable', '--now', socketUnit(key)]),
    socketEnabled: async (key) => (await systemctl(['is-enabled', '--quiet', socketUnit(key)])).ok,
  };
}
