import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_UNITS, renderUnit, socketUnit } from '../../../src/hooks/broker-units.js';
import { socketPath } from '../../../src/hooks/broker/registration.js';
import { execArgv, readUnitFile, setting } from '../../support/systemd-unit.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const UNITS = join(ROOT, 'hooks/systemd');
/** What install writes as the command: node and this checkout's script, both absolute. */
const COMMAND = `${process.execPath} ${join(ROOT, 'bin/safeupdate.js')}`;

const temps: string[] = [];
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function rendered(): string {
  const dir = mkdtempSync(join(tmpdir(), 'safeupdate-broker-units-'));
  temps.push(dir);
  for (const name of BROKER_UNITS) writeFileSync(join(dir, name), renderUnit(readFileSync(join(UNITS, name), 'utf8'), '9.9.9', COMMAND));
  return dir;
}

describe("hooks/systemd: snapshot mode's broker, a socket per hooked instance", () => {
  it('systemd-analyze verify accepts the rendered pair under an instance key, without a warning', async () => {
    const dir = rendered();
    const key = 'lxc.default.web-1';
    const args = BROKER_UNITS.map((name) => `${join(dir, name)}:${name.replace('@.', `@${key}.`)}`);
    const analyze = await execa('systemd-analyze', ['verify', '--man=no', ...args], { reject: false, cwd: dir });
    expect({ exitCode: analyze.exitCode, output: `${analyze.stdout}${analyze.stderr}` }).toEqual({ exitCode: 0, output: '' });
  });

  it("listens, root only, on the path the instance's proxy device connects to, and runs this safeupdate's broker for that key", () => {
    const dir = rendered();
    const socket = readUnitFile(join(dir, 'safeupdate-hook@.socket'));
    const key = 'lxc.prod.db1';
    expect(setting(socket, 'Socket', 'ListenStream').replace('%i', key)).toBe(socketPath(key));
    expect(setting(socket, 'Socket', 'SocketMode')).toBe('0600');
    expect(setting(socket, 'Socket', 'DirectoryMode')).toBe('0700');
    expect(setting(socket, 'Socket', 'Accept')).toBe('no');
    const service = readUnitFile(join(dir, 'safeupdate-hook@.service'));
    expect(execArgv(setting(service, 'Service', 'ExecStart'), key)).toEqual([process.execPath, join(ROOT, 'bin/safeupdate.js'), 'hooks', 'broker', key]);
    expect(setting(service, 'Service', 'Environment')).toBe('SAFEUPDATE_STATE_DIR=/var/lib/safeupdate');
    expect(setting(service, 'Service', 'RestrictAddressFamilies')).toBe('AF_UNIX');
    expect(socketUnit(key)).toBe('safeupdate-hook@lxc.prod.db1.socket');
    expect(readFileSync(join(dir, 'safeupdate-hook@.service'), 'utf8')).toContain('safeupdate-hook-version: 9.9.9');
  });
});
