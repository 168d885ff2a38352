import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { classifyBump, compareVersions, parseVersion, type Bump } from '../../../src/packages/versions.js';

// Real-world Debian versions, in dpkg's order (ties noted). The order itself is checked against
// `dpkg --compare-versions` on this machine for every pair, so the table cannot be wrong quietly.
const DEBIAN_ASCENDING = [
  '0.9', '1.0~~', '1.0~', '1.0~rc1', '1.0~rc1-1', '1.0', '1.0-0', '1.0-1~bpo12+1', '1.0-1', '1.0-1ubuntu1', '1.0-1+b1', '1.0-2',
  '1.0a', '1.0+deb12u1', '1.0+deb12u2', '1.0+dfsg-1', '1.0.0', '1.0.1', '1.2+really1.1-1', '2.36-9+deb12u4', '3.0.11-1~deb12u2',
  '7.88.1-10+deb12u5', '9.9', '10.0', '2024a-0+deb12u1', '2024b-0+deb12u1', '1:0.9', '1:2.36-9+deb12u4', '2:0.1',
];

/** dpkg's verdict on every pair, from one shell: -1, 0 or 1 per line, row by row. */
function dpkgOrders(versions: string[]): number[] {
  const pairs = versions.flatMap((a) => versions.map((b) => `if dpkg --compare-versions '${a}' lt '${b}'; then echo -1; elif dpkg --compare-versions '${a}' eq '${b}'; then echo 0; else echo 1; fi`));
  return execFileSync('sh', ['-c', pairs.join('\n')], { encoding: 'utf8' }).trim().split('\n').map(Number);
}

describe('Debian versions', () => {
  it('splits epoch, upstream and revision (the revision after the last hyphen)', () => {
    expect(parseVersion('dpkg', '1:2.36-9+deb12u4')).toEqual({ epoch: 1, upstream: '2.36', revision: '9+deb12u4' });
    expect(parseVersion('dpkg', '1.0+dfsg-1-2')).toEqual({ epoch: 0, upstream: '1.0+dfsg-1', revision: '2' });
    expect(parseVersion('dpkg', '3.134')).toEqual({ epoch: 0, upstream: '3.134', revision: '' });
  });

  it('orders every pair of the table exactly as dpkg --compare-versions does', () => {
    const verdicts = dpkgOrders(DEBIAN_ASCENDING);
    expect(verdicts).toHaveLength(DEBIAN_ASCENDING.length ** 2);
    const mismatches = DEBIAN_ASCENDING.flatMap((a, i) => DEBIAN_ASCENDING.flatMap((b, j) => {
      const mine = compareVersions('dpkg', a, b);
      const dpkg = verdicts[i * DEBIAN_ASCENDING.length + j];
      return mine === dpkg ? [] : [`${a} vs ${b}: ${mine}, dpkg says ${dpkg}`];
    }));
    expect(mismatches).toEqual([]);
  }, 60_000);

  it('the table is ascending, 1.0 and 1.0-0 being equal', () => {
    for (let i = 1; i < DEBIAN_ASCENDING.length; i += 1) {
      expect(compareVersions('dpkg', DEBIAN_ASCENDING[i - 1]!, DEBIAN_ASCENDING[i]!), `${DEBIAN_ASCENDING[i - 1]} < ${DEBIAN_ASCENDING[i]}`).toBeLessThanOrEqual(0);
    }
    expect(compareVersions('dpkg', '1.0', '1.0-0')).toBe(0);
    expect(compareVersions('dpkg', '1.0', '1.0-1')).toBe(-1);
  });
});

describe('RPM versions (rpmvercmp)', () => {
  it.each<[string, string, number]>([
    ['1.0', '1.0.1', -1],
    ['1.0a', '1.0', 1],
    ['1.0~rc1', '1.0', -1],
    ['1.0^git1', '1.0', 1],
    ['1.0^git1', '1.0.1', -1],
    ['1.2.3-4.el9', '1.2.3-10.el9', -1],
    ['1.2.3-4.el9', '1.2.3-4.el9', 0],
    ['1:1.0-1', '2.0-1', 1],
    ['1.0.1', '1.0.a', 1],
    ['2.0', '2_0', 0],
    ['1.010', '1.9', 1],
  ])('%s vs %s: %i', (a, b, expected) => {
    expect(compareVersions('rpm', a, b)).toBe(expected);
    expect(compareVersions('rpm', b, a)).toBe(-expected || 0);
  });
});

describe('Alpine versions', () => {
  it.each<[string, string, number]>([
    ['1.2.3-r4', '1.2.3-r3', 1],
    ['1.2.3_rc1-r0', '1.2.3-r0', -1],
    ['1.2.3_alpha2-r0', '1.2.3_beta1-r0', -1],
    ['1.2.3_p1-r0', '1.2.3-r0', 1],
    ['1.2.3a-r0', '1.2.3-r0', 1],
    ['1.10-r0', '1.9-r0', 1],
    ['1.2-r0', '1.2.0-r0', -1],
    ['1.2.3-r0', '1.2.3-r0', 0],
  ])('%s vs %s: %i', (a, b, expected) => {
    expect(compareVersions('apk', a, b)).toBe(expected);
    expect(compareVersions('apk', b, a)).toBe(-expected || 0);
  });

  it('splits the -rN release from the version', () => {
    expect(parseVersion('apk', '1.2.3_rc1-r4')).toEqual({ epoch: 0, upstream: '1.2.3_rc1', revision: '4' });
  });
});

describe('how far an upgrade moved', () => {
  it.each<['dpkg' | 'rpm' | 'apk', string, string, Bump]>([
    ['dpkg', '1.0', '1.1', 'minor'],
    ['dpkg', '1.0', '2.0', 'major'],
    ['dpkg', '7.88.1-10+deb12u4', '7.88.1-10+deb12u5', 'patch'],
    ['dpkg', '2.36-9+deb12u3', '2.36-9+deb12u4', 'patch'],
    ['dpkg', '3.0.11-1~deb12u2', '3.0.13-1~deb12u1', 'patch'],
    ['dpkg', '1:2.36-9', '2:1.0-1', 'major'],
    ['dpkg', '2.38.1-5', '1:2.38.1-5', 'major'],
    ['dpkg', '1.0~rc1', '1.0', 'other'],
    ['dpkg', '2024a-0+deb12u1', '2024b-0+deb12u1', 'other'],
    ['dpkg', '1.2-1', '1.3+really1.2-1', 'other'],
    ['dpkg', '2.0', '1.0', 'other'],
    ['dpkg', '1.0', '1.0', 'other'],
    ['dpkg', 'a', 'b', 'other'],
    ['dpkg', '5.2.15-2+b2', '5.2.21-2', 'patch'],
    ['rpm', '1.2.3-4.el9', '1.2.3-5.el9', 'patch'],
    ['rpm', '1.2.3-4.el9', '1.3.0-1.el9', 'minor'],
    ['rpm', '1.2.3-4.el9', '2.0.0-1.el9', 'major'],
    ['apk', '1.2.3-r4', '1.2.3-r5', 'patch'],
    ['apk', '1.2.3-r4', '1.2.4-r0', 'patch'],
    ['apk', '1.2.3-r4', '3.0.0-r0', 'major'],
  ])('%s %s → %s: %s', (manager, from, to, bump) => {
    expect(classifyBump(manager, from, to)).toBe(bump);
  });
});
