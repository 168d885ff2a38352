import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { labOn, removeAll } from './lab.js';

// Debian's real unattended-upgrades in a lab container, installed offline (scripts/lab unattended)
// and allowed to upgrade the demo packages by their repository's Origin: the ground for end-to-end
// tests of the apt hooks under an unattended upgrade. On LXD, and on Incus where its daemon runs.

afterEach(removeAll);

const incusRunning = (await execa('incus', ['query', '/1.0'], { reject: false, stdin: 'ignore' })).exitCode === 0;

describe.each([
  { client: 'lxc' as const, skip: false },
  { client: 'incus' as const, skip: !incusRunning },
])('unattended-upgrades on $client', ({ client, skip }) => {
  const lab = labOn(client);

  /** Runs a command in the container; its exit code and everything it printed, stdout and stderr in order. */
  async function inside(name: string, ...command: string[]): Promise<{ exitCode: number | undefined; all: string }> {
    const result = await execa(client, ['exec', name, '--', ...command], { reject: false, stdin: 'ignore', all: true });
    return { exitCode: result.exitCode, all: String(result.all) };
  }

  it.skipIf(skip)(`${client}: a dry run changes nothing, then a real run upgrades the demo 1.0 → 1.1 from the lab repository`, async () => {
    const name = await lab.launch('unattended');
    await lab.unattended(name);
    // Installed from the pushed repository, which is gone again as a source: apt sees only the demo repository.
    expect((await inside(name, 'dpkg-query', '-W', '-f=${Status}', 'unattended-upgrades')).all).toBe('install ok installed');
    expect((await inside(name, 'ls', '/srv')).all).toBe('repo');
    await lab.publish(name, '1.1');
    expect((await inside(name, 'apt-get', 'update', '-q')).exitCode).toBe(0);

    const dry = await inside(name, 'unattended-upgrade', '--dry-run', '-v');
    expect(dry.exitCode, dry.all).toBe(0);
    expect(dry.all).toContain('origin=safeupdate-lab-demo');
    expect(dry.all).toContain('Packages that will be upgraded: safeupdate-demo');
    expect(dry.all).not.toContain('Setting up safeupdate-demo');
    expect(await lab.demoVersion(name)).toBe('1.0');

    const real = await inside(name, 'unattended-upgrade', '-v');
    expect(real.exitCode, real.all).toBe(0);
    expect(real.all).toContain('Packages that will be upgraded: safeupdate-demo');
    expect(real.all).toContain('Setting up safeupdate-demo (1.1)');
    expect(await lab.demoVersion(name)).toBe('1.1');
    expect(await lab.settledUnitState(name)).toBe('active');
    // Nothing left to do: a second run finds no upgrade.
    const again = await inside(name, 'unattended-upgrade', '-v');
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toContain('No packages found that can be upgraded unattended');
  });
});
