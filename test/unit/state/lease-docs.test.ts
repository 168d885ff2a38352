import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { leaseLengthMs, leaseProfileName } from '../../../src/state/lease-profile.js';

// docs/ci.md tells a CI admin what keeps two jobs on two runners apart: it must describe the lock
// the code takes (the server lease), not a per-host lock that would leave two runners racing.
const docs = () => readFile(new URL('../../../docs/ci.md', import.meta.url), 'utf8');

describe('docs/ci.md on the lock between runners', () => {
  it('names the server lease the code takes, and no longer calls the lock per host', async () => {
    const text = await docs();
    const profile = leaseProfileName({ remote: 'ci', name: '<instance>', project: '<project>' });
    expect(text).toContain(`\`${profile}\``);
    expect(text).not.toMatch(/lock is per host|are not kept\s+apart/);
  });

  it('gives the default expiry of a dead runner\'s lease as the code computes it (its length and a quarter)', async () => {
    const seconds = (leaseLengthMs({}) * 1.25) / 1000;
    expect(await docs()).toContain(`expires after about ${seconds} s`);
  });
});
