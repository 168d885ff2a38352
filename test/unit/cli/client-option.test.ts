import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { useClientStandIns } from '../../support/lxc-stand-in.js';

// --client and SAFEUPDATE_CLIENT reach the access layer: the command line run without a fake, over
// a stand-in installed as both `incus` and `lxc` on PATH, which records the name it was run by.

const standIn = useClientStandIns('client-option');
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { realLxd: true, env: { PATH: process.env.PATH!, ...env } });

/** `safeupdate snapshots web1` asks for the server, the instance and its snapshots. */
function answerSnapshots() {
  standIn.answer({ stdout: '{}' }, { stdout: '{"name":"web1","type":"container","status":"Running","ephemeral":false}' }, { stdout: '[]' });
}

describe('the client safeupdate drives', () => {
  it.each([
    [['--client', 'incus', 'snapshots', 'web1'], {}, 'incus'],
    [['snapshots', 'web1', '--client', 'incus'], {}, 'incus'],
    [['snapshots', 'web1'], { SAFEUPDATE_CLIENT: 'incus' }, 'incus'],
    [['snapshots', 'web1', '--client', 'lxc'], { SAFEUPDATE_CLIENT: 'incus' }, 'lxc'],
    [['snapshots', 'web1'], {}, 'lxc'],
  ])('%j with %j: %s', async (args, env, client) => {
    answerSnapshots();
    const run = await cli(args, env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('web1: no snapshots\n');
    expect(standIn.calls().map((call) => call.client)).toEqual([client, client, client]);
  });

  it('any other client is bad input (exit 2), and nothing is run', async () => {
    const run = await cli(['snapshots', 'web1', '--client', 'lxd']);
    expect(run).toMatchObject({ code: 2, stderr: 'safeupdate: --client "lxd": must be lxc or incus\n' });
    expect(standIn.calls()).toEqual([]);
  });

  it('the completion script lists instances through the chosen client', async () => {
    const run = await cli(['completion', 'bash'], { SAFEUPDATE_CLIENT: 'incus' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('incus list --format csv -c n 2>/dev/null');
    expect(run.stdout).not.toContain('lxc list');
  });
});
