import { describe, expect, it } from 'vitest';
import { countBumps, diffInventories, parseInventory, type Inventory } from '../../../src/packages/inventory.js';
import { describeChange, refusedChanges } from '../../../src/packages/policy.js';
import { parseSimulation, simulationOf } from '../../../src/packages/simulate.js';

const inventory = (manager: Inventory['manager'], entries: Record<string, string>): Inventory => ({ manager, packages: new Map(Object.entries(entries)) });

describe('the inventory', () => {
  it('reads dpkg-query lines: installed ones only, multi-arch names kept whole', () => {
    const read = parseInventory('dpkg\nadduser\t3.134\tii \nlibc6:amd64\t2.36-9+deb12u4\tii \nold-conf\t1.0\trc \nhalf\t2.0\tiU \ntrig\t1.1\tit \n\n');
    expect(read.manager).toBe('dpkg');
    expect([...read.packages]).toEqual([['adduser', '3.134'], ['libc6:amd64', '2.36-9+deb12u4'], ['trig', '1.1']]);
  });

  it('reads rpm lines with their epoch', () => {
    expect([...parseInventory('rpm\nbash.x86_64\t5.1.8-9.el9\tii\nperl-libs.x86_64\t4:5.32.1-481.el9\tii\n').packages]).toEqual([
      ['bash.x86_64', '5.1.8-9.el9'], ['perl-libs.x86_64', '4:5.32.1-481.el9'],
    ]);
  });

  it('splits apk info -v names at the version that ends in -rN', () => {
    expect([...parseInventory('apk\nmusl-1.2.4-r2\nlibcrypto3-3.1.4-r5\nca-certificates-bundle-20240226-r0\n').packages]).toEqual([
      ['musl', '1.2.4-r2'], ['libcrypto3', '3.1.4-r5'], ['ca-certificates-bundle', '20240226-r0'],
    ]);
  });

  it('says plainly when there is no package manager it knows, and when the answer makes no sense', () => {
    expect(() => parseInventory('unknown\n')).toThrow('unknown package manager: none of dpkg, rpm or apk is installed in the instance');
    expect(() => parseInventory('sh: 1: syntax error\n')).toThrow('unexpected answer from the inventory: "sh: 1: syntax error"');
  });

  it('diffs two inventories into added, removed and changed, by name, each change classified', () => {
    const before = inventory('dpkg', { a: '1.0', b: '1.0', gone: '2.0', same: '1:3.0-1' });
    const after = inventory('dpkg', { a: '1.1', b: '2.0', same: '1:3.0-1', fresh: '0.1-1' });
    const changes = diffInventories(before, after);
    expect(changes).toEqual([
      { name: 'a', kind: 'changed', from: '1.0', to: '1.1', bump: 'minor' },
      { name: 'b', kind: 'changed', from: '1.0', to: '2.0', bump: 'major' },
      { name: 'fresh', kind: 'added', from: null, to: '0.1-1', bump: null },
      { name: 'gone', kind: 'removed', from: '2.0', to: null, bump: null },
    ]);
    expect(countBumps(changes)).toEqual({ major: 1, minor: 1, patch: 0, other: 0 });
    expect(diffInventories(before, before)).toEqual([]);
  });
});

describe('apt simulation', () => {
  it('simulates a direct apt or apt-get call with the same arguments', () => {
    expect(simulationOf(['apt-get', 'upgrade', '-y'])).toEqual({ argv: ['apt-get', '-s', 'upgrade', '-y'] });
    expect(simulationOf(['apt', '-q', 'full-upgrade'])).toEqual({ argv: ['apt', '-s', '-q', 'full-upgrade'] });
    expect(simulationOf(['/usr/bin/apt-get', 'install', '-y', 'nginx'])).toEqual({ argv: ['/usr/bin/apt-get', '-s', 'install', '-y', 'nginx'] });
    // The value of -t or -o is not the action.
    expect(simulationOf(['apt-get', '-t', 'bookworm-backports', 'install', 'incus'])).toEqual({ argv: ['apt-get', '-s', '-t', 'bookworm-backports', 'install', 'incus'] });
    expect(simulationOf(['apt-get', '-o', 'Dpkg::Options::=--force-confold', 'dist-upgrade'])).toEqual({ argv: ['apt-get', '-s', '-o', 'Dpkg::Options::=--force-confold', 'dist-upgrade'] });
    expect(simulationOf(['apt-get', '-t', 'update'])).toEqual({ reason: 'apt (no action) changes no packages that can be simulated' });
  });

  it('says why it cannot simulate a shell line or an apt action that installs nothing', () => {
    expect(simulationOf(['sh', '-c', 'apt-get update && apt-get upgrade -y'])).toEqual({
      reason: 'only a direct apt or apt-get command can be simulated, not "sh -c apt-get update && apt-get upgrade -y" (run apt-get update first, then give the apt-get command itself)',
    });
    expect(simulationOf(['apt-get', 'update'])).toEqual({ reason: 'apt update changes no packages that can be simulated' });
    expect(simulationOf(['apt-get', '-y'])).toEqual({ reason: 'apt (no action) changes no packages that can be simulated' });
  });

  it('reads Inst, Remv and Purg lines (real apt-get -s output) and ignores the rest', () => {
    const output = [
      'Reading package lists...', 'Calculating upgrade...', 'The following packages will be upgraded:', '  safeupdate-demo',
      'Inst safeupdate-demo [1.0] (2.0 localhost [all])',
      'Inst libfoo2 (2.1-1 Debian:12.5/stable [amd64])',
      'Inst same [1.0] (1.0 localhost [all])',
      'Remv oldlib [0.9-3]',
      'Purg gone',
      'Conf safeupdate-demo (2.0 localhost [all])',
    ].join('\n');
    expect(parseSimulation(output)).toEqual([
      { name: 'gone', kind: 'removed', from: null, to: null, bump: null },
      { name: 'libfoo2', kind: 'added', from: null, to: '2.1-1', bump: null },
      { name: 'oldlib', kind: 'removed', from: '0.9-3', to: null, bump: null },
      { name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '2.0', bump: 'major' },
    ]);
  });
});

describe('the upgrade policy', () => {
  const changes = diffInventories(
    inventory('dpkg', { 'php8.2': '8.2.1', nginx: '1.22.1-9', 'libc6:amd64': '2.36-9', tzdata: '2024a-0' }),
    inventory('dpkg', { 'php8.2': '9.0.0', nginx: '1.24.0-1', 'libc6:amd64': '2.36-10', tzdata: '2024b-0', newdep: '1.0' }),
  );

  it('--refuse major refuses majors only; minor also refuses minors; other and added never', () => {
    expect(refusedChanges(changes, { refuse: 'major', allow: [] }).map((c) => c.name)).toEqual(['php8.2']);
    expect(refusedChanges(changes, { refuse: 'minor', allow: [] }).map((c) => c.name)).toEqual(['nginx', 'php8.2']);
    expect(refusedChanges(changes, { refuse: null, allow: [] })).toEqual([]);
  });

  it('--allow exempts by name or glob, also a multi-arch name:arch', () => {
    expect(refusedChanges(changes, { refuse: 'minor', allow: ['php*'] }).map((c) => c.name)).toEqual(['nginx']);
    expect(refusedChanges(changes, { refuse: 'minor', allow: ['ngin?', 'php8.2'] })).toEqual([]);
    expect(refusedChanges(changes, { refuse: 'major', allow: ['php8.?'] })).toEqual([]);
    expect(refusedChanges(changes, { refuse: 'major', allow: ['php8'] }).map((c) => c.name)).toEqual(['php8.2']);
    const multiArch = [{ name: 'libc6:amd64', kind: 'changed' as const, from: '2.36', to: '3.0', bump: 'major' as const }];
    expect(refusedChanges(multiArch, { refuse: 'major', allow: ['libc6'] })).toEqual([]);
  });

  it('describes each change in words', () => {
    expect(changes.map(describeChange)).toEqual([
      'libc6:amd64 2.36-9 → 2.36-10 (patch)', 'newdep (new, 1.0)', 'nginx 1.22.1-9 → 1.24.0-1 (minor)', 'php8.2 8.2.1 → 9.0.0 (major)', 'tzdata 2024a-0 → 2024b-0 (other)',
    ]);
    expect(describeChange({ name: 'x', kind: 'removed', from: '1', to: null, bump: null })).toBe('x (removed, was 1)');
  });
});
