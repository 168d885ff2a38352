import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyMemory, loadMemory, memoryFile, saveMemory } from '../../../../src/hooks/broker/memory.js';
import { hooksStateDir, isKey, isSameRegistration, readRegistration, registrationFile, registrationKey, removeRegistration, socketPath, writeRegistration } from '../../../../src/hooks/broker/registration.js';
import { brokerRegistration } from '../../../support/broker-lxd.js';

// What a broker keeps on the host: its memory between requests and restarts, and the registration
// install wrote (which it believes, never the instance).

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-broker-state-'));
});
afterEach(() => rm(stateDir, { recursive: true, force: true }));

describe('the broker\'s memory', () => {
  it('a missing file is a fresh start; a saved one comes back as saved, root\'s alone', async () => {
    await writeRegistration(stateDir, brokerRegistration());
    const file = memoryFile(stateDir, 'lxc.default.web1');
    expect(file).toBe(join(stateDir, 'hooks', 'lxc.default.web1.memory.json'));
    expect(await loadMemory(file)).toEqual({ memory: emptyMemory(), problem: null });
    const memory = { usedTokens: ['a'.repeat(32)], runs: [{ run: 'b:1:1', reportId: 'r', snapshot: 's', at: '2026-12-02T08:00:00.000Z' }], snapshotTimes: ['2026-12-02T08:00:00.000Z'] };
    await saveMemory(file, memory);
    expect(await loadMemory(file)).toEqual({ memory, problem: null });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('keeps the newest 200 tokens and 50 runs and snapshot times', async () => {
    await writeRegistration(stateDir, brokerRegistration());
    const file = memoryFile(stateDir, 'lxc.default.web1');
    const memory = {
      usedTokens: Array.from({ length: 250 }, (_, i) => String(i)),
      runs: Array.from({ length: 60 }, (_, i) => ({ run: String(i), reportId: 'r', snapshot: null, at: 'x' })),
      snapshotTimes: Array.from({ length: 60 }, (_, i) => String(i)),
    };
    await saveMemory(file, memory);
    const { memory: loaded } = await loadMemory(file);
    expect(loaded.usedTokens).toEqual(memory.usedTokens.slice(-200));
    expect(loaded.runs.map((run) => run.run)).toEqual(memory.runs.slice(-50).map((run) => run.run));
    expect(loaded.snapshotTimes).toEqual(memory.snapshotTimes.slice(-50));
  });

  it.each([
    ['not JSON', '{'],
    ['not a memory', '{"usedTokens":"x","runs":[],"snapshotTimes":[]}'],
  ])('a corrupt file (%s) is a fresh start, and says so', async (_, text) => {
    const file = join(stateDir, 'm.json');
    await writeFile(file, text);
    const { memory, problem } = await loadMemory(file);
    expect(memory).toEqual(emptyMemory());
    expect(problem).toContain(`${file} is corrupt`);
  });
});

describe('registrations', () => {
  it('the key names the client, project and instance; only names that make a safe file, unit and socket name', () => {
    expect(registrationKey('lxc', 'default', 'web1')).toBe('lxc.default.web1');
    expect(socketPath('lxc.default.web1')).toBe('/run/safeupdate/hooks/lxc.default.web1.sock');
    expect(registrationKey('incus', 'prod', 'db-1_a')).toBe('incus.prod.db-1_a');
    for (const [project, instance] of [['default', '../x'], ['a.b', 'web1'], ['default', '-web1'], ['default', ''], ['default', 'a b'], ['de fault', 'web1']]) {
      expect(registrationKey('lxc', project!, instance!), `${project}/${instance}`).toBeNull();
    }
    // sun_path holds 108 bytes.
    expect(registrationKey('lxc', 'default', 'w'.repeat(69))).toBeNull();
    expect(registrationKey('lxc', 'default', 'w'.repeat(68))).not.toBeNull();
    expect(isKey('lxc.default.web1')).toBe(true);
    for (const text of ['docker.default.web1', 'lxc.default', 'lxc.default.web1.x', 'lxc.default.../x', 'lxc..web1']) expect(isKey(text), text).toBe(false);
  });

  it('written aside and renamed, in a folder and file root\'s alone; read back; removed', async () => {
    const registration = brokerRegistration();
    await writeRegistration(stateDir, registration);
    expect((await stat(hooksStateDir(stateDir))).mode & 0o777).toBe(0o700);
    expect((await stat(registrationFile(stateDir, registration.key))).mode & 0o777).toBe(0o600);
    const read = await readRegistration(stateDir, registration.key);
    expect(read).toEqual(registration);
    expect(isSameRegistration(read!, registration)).toBe(true);
    expect(isSameRegistration(read!, { ...registration, uuid: 'other' })).toBe(false);
    await removeRegistration(stateDir, registration.key);
    expect(await readRegistration(stateDir, registration.key)).toBeNull();
  });

  it('one that is not a registration (another key in it, no uuid) is refused, not believed', async () => {
    await writeRegistration(stateDir, brokerRegistration());
    const file = registrationFile(stateDir, 'lxc.default.web1');
    const value = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...value, key: 'lxc.default.web2' }));
    await expect(readRegistration(stateDir, 'lxc.default.web1')).rejects.toThrow('is not a hook registration');
    await writeFile(file, JSON.stringify({ ...value, uuid: undefined }));
    await expect(readRegistration(stateDir, 'lxc.default.web1')).rejects.toThrow('is not a hook registration');
    // An older one without the limits gets the defaults.
    await writeFile(file, JSON.stringify({ ...value, maxSnapshots: undefined, rateWindowSeconds: undefined }));
    expect(await readRegistration(stateDir, 'lxc.default.web1')).toMatchObject({ maxSnapshots: 10, rateWindowSeconds: 600 });
  });
});
