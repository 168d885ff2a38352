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

describe('the rehearsal copy', () => {
  const marker = { key: 'user.safeupdate.rehearsal', value: 'run-1' };
  const copy: InstanceRef = { remote: null, name: 'web1-rehearsal-run-1', project: null };

  it.each(['', 'a/b'])('copyFromSnapshot from a snapshot named %j is refused', async (snapshot) => {
    expect((await refusal(client().copyFromSnapshot(local, snapshot, 'x', { config: {}, devices: {} }))).message).toBe(`refusing to copy from snapshot "${snapshot}": not a snapshot name`);
  });

  it('copyFromSnapshot creates the copy with its marker and masks in one request', async () => {
    answer({ stdout: '{}\n' });
    await client().copyFromSnapshot({ ...local, project: 'prod' }, 'safeupdate-1', copy.name, { config: { [marker.key]: 'run-1' }, devices: { web: { type: 'none' } } });
    const [argv] = standIn.argvs();
    expect(argv!.slice(0, 4)).toEqual(['query', '--wait', '-X', 'POST']);
    expect(JSON.parse(argv![5]!)).toEqual({
      name: copy.name, source: { type: 'copy', source: 'web1/safeupdate-1', instance_only: true }, config: { [marker.key]: 'run-1' }, devices: { web: { type: 'none' } },
    });
    expect(argv![6]).toBe('/1.0/instances?project=prod');
  });

  it('deleteMarkedInstance deletes only after reading this run\'s marker, through the instance\'s API path', async () => {
    answer({ stdout: JSON.stringify({ name: copy.name, config: { [marker.key]: 'run-1' } }) }, { stdout: '{}\n' });
    expect(await client().deleteMarkedInstance(copy, marker)).toEqual({ deleted: true });
    expect(standIn.argvs()).toEqual([
      ['query', '/1.0/instances/web1-rehearsal-run-1'],
      ['query', '--wait', '-X', 'DELETE', '/1.0/instances/web1-rehearsal-run-1'],
    ]);
  });

  it('deleteMarkedInstance of an instance with another marker, or none, runs no delete', async () => {
    answer({ stdout: JSON.stringify({ name: copy.name, config: { [marker.key]: 'adopted' } }) });
    expect(await client().deleteMarkedInstance(copy, marker)).toEqual({ deleted: false, gone: false, found: 'adopted' });
    expect(ran()).toBe(1);
  });

  it('deleteMarkedInstance of an instance that is gone', async () => {
    answer({ exitCode: 1, stderr: 'Error: Instance not found\n' });
    expect(await client().deleteMarkedInstance(copy, marker)).toEqual({ deleted: false, gone: true });
  });
});
