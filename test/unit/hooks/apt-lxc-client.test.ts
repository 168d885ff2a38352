import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import { useLxcStandIn } from '../../support/lxc-stand-in.js';

// The LxcClient methods the apt hooks need, against the stand-in `lxc` of the client's own tests
// (test/fixtures/lxc-stand-in.cjs): the exact command lines, how answers are read.

const standIn = useLxcStandIn('lxc-client-hooks');
const { answer, argvs } = standIn;

const client = () => new LxcClient({ binary: standIn.paths.binary });
const local: InstanceRef = { remote: null, name: 'web1', project: null };
const remote: InstanceRef = { remote: 'backup', name: 'web1', project: 'prod' };

describe('files inside an instance', () => {
  it('pushFile writes the content to a private temporary file, pushes it as root with the mode, and removes it', async () => {
    answer({}, {});
    await client().pushFile(local, '/etc/safeupdate/lxd/client.key', 'KEY', 0o600);
    await client().pushFile(remote, '/usr/local/lib/safeupdate/guard', '#!/bin/sh\n', 0o755);
    const [first, second] = argvs();
    expect(first!.slice(0, 8)).toEqual(['file', 'push', '--quiet', '--uid', '0', '--gid', '0', '--mode']);
    expect(first!.slice(8)).toEqual(['0600', expect.stringMatching(/safeupdate-push-[^/]+\/content$/), 'web1/etc/safeupdate/lxd/client.key']);
    expect(second!.slice(8)).toEqual(['0755', expect.any(String), 'backup:web1/usr/local/lib/safeupdate/guard', '--project', 'prod']);
    expect(existsSync(first![9]!)).toBe(false);
  });

  it('pushFile refuses a relative path', async () => {
    await expect(client().pushFile(local, 'etc/x', '', 0o644)).rejects.toThrow(/not an absolute path/);
    expect(argvs()).toEqual([]);
  });

  it('removeFile: a file that is not there is no error; other failures are', async () => {
    answer({ exitCode: 1, stderr: 'Error: Not Found\n' }, { exitCode: 1, stderr: 'Error: sftp: "remove /etc/safeupdate: directory not empty" (SSH_FX_FAILURE)\n' });
    await client().removeFile(remote, '/etc/safeupdate/hook.conf');
    const error = await client().removeFile(local, '/etc/safeupdate').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LxdError);
    expect((error as LxdError).message).toContain('directory not empty');
    expect(argvs()).toEqual([
      ['file', 'delete', 'backup:web1/etc/safeupdate/hook.conf', '--project', 'prod'],
      ['file', 'delete', 'web1/etc/safeupdate'],
    ]);
  });

  it('removeFile refuses / and relative paths', async () => {
    await expect(client().removeFile(local, '/')).rejects.toThrow(/not an absolute path below/);
    await expect(client().removeFile(local, 'x')).rejects.toThrow(/not an absolute path below/);
    expect(argvs()).toEqual([]);
  });
});

describe('devices', () => {
  it('addDevice adds to the instance itself with its type; removeDevice removes it', async () => {
    answer({}, {});
    await client().addDevice(remote, 'safeupdate-lxd', { type: 'proxy', listen: 'tcp:127.0.0.1:18443', connect: 'tcp:127.0.0.1:8443', bind: 'instance' });
    await client().removeDevice(local, 'safeupdate-lxd');
    expect(argvs()).toEqual([
      ['config', 'device', 'add', 'backup:web1', 'safeupdate-lxd', 'proxy', 'listen=tcp:127.0.0.1:18443', 'connect=tcp:127.0.0.1:8443', 'bind=instance', '--project', 'prod'],
      ['config', 'device', 'remove', 'web1', 'safeupdate-lxd'],
    ]);
  });
});

describe('the server and its trust store', () => {
  it('getServer reads core.https_address and the server certificate; an empty address is none', async () => {
    answer(
      { stdout: JSON.stringify({ config: { 'core.https_address': '127.0.0.1:8443' }, environment: { certificate: 'PEM' } }) },
      { stdout: JSON.stringify({ config: { 'core.https_address': '' }, environment: {} }) },
    );
    expect(await client().getServer(null)).toEqual({ httpsAddress: '127.0.0.1:8443', certificate: 'PEM' });
    expect(await client().getServer('backup')).toEqual({ httpsAddress: null, certificate: null });
    expect(argvs()).toEqual([['query', '/1.0'], ['query', 'backup:/1.0']]);
  });

  it('listCertificates reads the trust store', async () => {
    answer({ stdout: JSON.stringify([{ fingerprint: 'ab', name: 'n', type: 'client', restricted: true, projects: ['p'], certificate: 'PEM' }, { fingerprint: 'cd' }]) });
    expect(await client().listCertificates('backup')).toEqual([
      { fingerprint: 'ab', name: 'n', type: 'client', restricted: true, projects: ['p'] },
      { fingerprint: 'cd', name: '', type: 'client', restricted: false, projects: [] },
    ]);
    expect(argvs()).toEqual([['query', 'backup:/1.0/certificates?recursion=1']]);
  });

  it('addRestrictedCertificate posts the DER (base64) as a client restricted to the projects', async () => {
    answer({});
    await client().addRestrictedCertificate('backup', 'safeupdate-hook.web1.prod', '-----BEGIN CERTIFICATE-----\nMIIB\n5zCC\n-----END CERTIFICATE-----\n', ['prod']);
    const [argv] = argvs();
    expect(argv!.slice(0, 5)).toEqual(['query', '--wait', '-X', 'POST', '--data']);
    expect(JSON.parse(argv![5]!)).toEqual({ type: 'client', name: 'safeupdate-hook.web1.prod', certificate: 'MIIB5zCC', restricted: true, projects: ['prod'] });
    expect(argv![6]).toBe('backup:/1.0/certificates');
  });

  it('deleteCertificate deletes by fingerprint, and refuses anything else', async () => {
    answer({});
    const fingerprint = 'a'.repeat(64);
    await client().deleteCertificate(null, fingerprint);
    await expect(client().deleteCertificate(null, '')).rejects.toThrow(/not a SHA-256 fingerprint/);
    await expect(client().deleteCertificate(null, '../certificates')).rejects.toThrow(/not a SHA-256 fingerprint/);
    expect(argvs()).toEqual([['query', '--wait', '-X', 'DELETE', `/1.0/certificates/${fingerprint}`]]);
  });
});
