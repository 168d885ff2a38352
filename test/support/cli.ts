import { main } from '../../src/cli/main.js';
import { FakeLxd } from './fake-lxd.js';

/** The command line as bin/safeupdate.js runs it, without a terminal, over a scripted fake LXD. */
export async function runCli(args: string[], { lxd = new FakeLxd(), env = {} }: { lxd?: FakeLxd; env?: Record<string, string> } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    terminal: false,
    env,
    createLxd: () => lxd,
  });
  return { code, stdout, stderr, lxd };
}
