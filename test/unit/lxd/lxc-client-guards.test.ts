import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import { useLxcStandIn } from '../../support/lxc-stand-in.js';

// The refusals that keep LxcClient's file, device and trust-store calls from addressing the wrong
// thing, each before any `lxc` runs; and server answers that leave fields out. Against the
// stand-in `lxc` (test/fixtures/lxc-stand-in.cjs), which records every call it gets.

const standIn = useLxcStandIn('lxc-client-guards');
const { answer } = standIn;
const ran = () => standIn.calls().length;

async function refusal(promise: Promise<unknown>): Promise<LxdError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(LxdError);
  expect((error as LxdError).kind).toBe('failed');
  // Nothing was run, so no command is named.
  expect((error as LxdError).command).toEqual([]);
  expect(ran()).toBe(0);
  return error as LxdError;
}

const client = () => new LxcClient({ binary: standIn.paths.binary });
const local: InstanceRef = { remote: null, name: 'web1', project: null };

describe('refusals before anything runs', () => {
  it('pushFile to a relative path', async () => {
    expect((await refusal(client().pushFile(local, 'etc/hook.conf', 'x', 0o644))).message).toBe('refusing to push to "etc/hook.conf": not an absolute path');
  });

  it.each(['/', 'etc/safeupdate', ''])('removeFile of %j', async (path) => {
    expect((await refusal(client().removeFile(local, path))).message).toBe(`refusing to remove "${path}": not an absolute path below /`);
  });

  it('addDevice without a type', async () => {
    expect((await refusal(client().addDevice(local, 'safeupdate-lxd', { listen: 'tcp:127.0.0.1:1' }))).message).toBe('device safeupdate-lxd: no type');
  });

  it.each([
    ['too short', 'a'.repeat(63)],
    ['too long', 'a'.repeat(65)],
    ['a path after it', `${'a'.repeat(64)}/x`],
    ['a path before it', `x/${'a'.repeat(64)}`],
    ['upper case', 'A'.repeat(64)],
  ])('deleteCertificate of a fingerprint %s', async (_, fingerprint) => {
    expect((await refusal(client().deleteCertificate(null, fingerprint))).message).toBe(`refusing to delete certificate "${fingerprint}": not a SHA-256 fingerprint`);
  });
});

describe('a server that says little', () => {
  it('getServer without config or environment: no address, no certificate', async () => {
    answer({ stdout: '{}\n' });
    expect(await client().getServer(null)).toEqual({ httpsAddress: null, certificate: null });
  });
});
