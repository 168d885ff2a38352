import { main } from '../../src/cli/main.js';
import { FakeLxd } from './fake-lxd.js';

/**
 * The command line as bin/safeupdate.js runs it, without a terminal, over a scripted fake LXD;
 * `realLxd`: over the real access layer instead, through the client only (a stand-in on PATH): the
 * daemon's socket, where the machine has one, is never spoken to from a unit test.
 */
export async function runCli(args: string[], { lxd = new FakeLxd(), env = {}, realLxd = false }: { lxd?: FakeLxd; env?: Record<string, string>; realLxd?: boolean } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    terminal: false,
    env: realLxd ? { SAFEUPDATE_TRANSPORT: 'client', ...env } : env,
    ...(realLxd ? {} : { createLxd: () => lxd }),
  });
  return { code, stdout, stderr, lxd };
}
