import { describe, expect, it } from 'vitest';
import { recogniseApt } from '../../../src/packages/apt-command.js';

describe('which update commands are apt runs', () => {
  it.each([
    [['apt-get', 'upgrade', '-y'], 'direct', ['apt-get']],
    [['apt', 'full-upgrade', '-y'], 'direct', ['apt']],
    [['/usr/bin/apt-get', 'dist-upgrade'], 'direct', ['apt-get']],
    [['aptitude', 'safe-upgrade', '-y'], 'direct', ['aptitude']],
    [['unattended-upgrade', '-d'], 'direct', ['unattended-upgrade']],
    [['/usr/bin/unattended-upgrades'], 'direct', ['unattended-upgrades']],
    [['sh', '-c', 'apt-get update -q && apt-get upgrade -y'], 'shell', ['apt-get']],
    [['bash', '-euc', 'apt update; apt -y upgrade'], 'shell', ['apt']],
    [['/bin/sh', '-c', '(apt-get update)&&unattended-upgrade'], 'shell', ['apt-get', 'unattended-upgrade']],
  ] as const)('%j is an apt run (%s)', (command, form, programs) => {
    expect(recogniseApt(command)).toEqual({ form, programs });
  });

  it.each([
    [['dpkg', '-i', '/tmp/x.deb']],
    [['dnf', 'upgrade', '-y']],
    [['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'upgrade']],
    [['/usr/local/sbin/update.sh']],
    [['sh', '-c', 'apt-listchanges --help; aptly publish']],
    [['sh', 'apt-get']],
    [['sh', '-c']],
    [['python3', '-c', 'apt-get']],
    [['apt-getx']],
  ])('%j is not', (command) => {
    expect(recogniseApt(command)).toBeNull();
  });

  it('a shell line that names apt only as a word counts too: harmless, as only apt reads what is set', () => {
    expect(recogniseApt(['sh', '-c', 'echo apt'])).toEqual({ form: 'shell', programs: ['apt'] });
  });
});
