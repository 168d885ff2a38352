import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../../src/errors.js';
import { handleRequest, HOOK_SNAPSHOT_PREFIX, proveOrigin, Refused } from '../../../../src/hooks/broker/handle.js';
import { emptyMemory, type BrokerMemory } from '../../../../src/hooks/broker/memory.js';
import type { ResultRequest, SnapshotRequest } from '../../../../src/hooks/broker/protocol.js';
import type { Registration } from '../../../../src/hooks/broker/registration.js';
import { PATHS } from '../../../../src/hooks/layout.js';
import { findBaseline, listReports } from '../../../../src/state/run-history.js';
import { brokerDeps, brokerRegistration, BrokerLxd, snapshot } from '../../../support/broker-lxd.js';

// What the broker does with a well-formed request: prove it comes from inside the registered
// instance, then one snapshot per apt run within the cap and the rate, or the checks' result into
// the run's report on the host.

let stateDir: string;
let lxd: BrokerLxd;
let memory: BrokerMemory;
let clock: Date;
let tokens = 0;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-broker-'));
  lxd = new BrokerLxd();
  memory = emptyMemory();
  clock = new Date('2026-12-02T08:00:00.000Z');
});
afterEach(() => rm(stateDir, { recursive: true, force: true }));

const REF = { remote: 'local', name: 'web1', project: 'default' };

/** A fresh token, written "inside" (what the stand-in's readFile answers). */
function token(): string {
  const value = (tokens += 1).toString(16).padStart(32, '0');
  lxd.tokenText = `${value}\n`;
  return value;
}

const setup = (registration: Partial<Registration> = {}) => brokerDeps(lxd, stateDir, { registration: brokerRegistration(registration), memory, now: () => clock });

const snapshotRequest = (run = 'boot:100:1', overrides: Partial<SnapshotRequest> = {}): SnapshotRequest => ({
  v: 1, request: 'snapshot', run, token: token(), command: 'apt-get upgrade -y', user: 'root', failedUnits: [], ...overrides,
});
const resultRequest = (run = 'boot:100:1', checks: ResultRequest['checks'] = [{ name: 'systemd', status: 'ok', message: 'running' }]): ResultRequest => ({
  v: 1, request: 'result', run, token: token(), checks,
});

const later = (seconds: number) => {
  clock = new Date(clock.getTime() + seconds * 1000);
};

describe('proveOrigin: the request comes from inside the registered instance', () => {
  it('the token is in the instance\'s own token file, as LXD reads it (bounded): accepted once, remembered', async () => {
    const { deps, saved } = setup();
    const value = token();
    await proveOrigin(deps, value);
    expect(lxd.calls).toEqual([
      { method: 'getConfig', args: [REF] },
      { method: 'readFile', args: [REF, PATHS.requestToken, { maxBytes: 64, timeoutMs: 5_000 }] },
    ]);
    expect(memory.usedTokens).toEqual([value]);
    expect(saved.count).toBe(1);
  });

  it('refuses a token that is not in the instance\'s file (a copy of the instance, or a guess): not remembered', async () => {
    const { deps } = setup();
    lxd.tokenText = `${'f'.repeat(32)}\n`;
    await expect(proveOrigin(deps, 'a'.repeat(32))).rejects.toThrow(new Refused(`the token is not in web1's ${PATHS.requestToken}: the request did not come from inside that instance (a copy of it?)`));
    expect(memory.usedTokens).toEqual([]);
  });

  it.each([
    ['no token file', null],
    ['an empty one', ''],
    ['the token with more after it', `${'a'.repeat(32)}\nsomething else\n`],
    ['a prefix of the token', 'a'.repeat(31)],
  ])('refuses when the instance has %s', async (_, written) => {
    const { deps } = setup();
    lxd.tokenText = written;
    await expect(proveOrigin(deps, 'a'.repeat(32))).rejects.toBeInstanceOf(Refused);
  });

  it('refuses a token used before (a replay), without asking LXD', async () => {
    const { deps } = setup();
    const value = token();
    await proveOrigin(deps, value);
    lxd.calls.length = 0;
    // Still in the file: only the memory tells the replay.
    await expect(proveOrigin(deps, value)).rejects.toThrow('the token was used before (a replay, or a copy of the instance)');
    expect(lxd.calls).toEqual([]);
  });

  it('refuses when the instance of that name is another one (volatile.uuid differs): its file is not even read', async () => {
    const { deps } = setup();
    lxd.config = { 'volatile.uuid': 'another-uuid' };
    await expect(proveOrigin(deps, token())).rejects.toThrow(`instance web1 is not the one the hook was installed for (volatile.uuid another-uuid, installed for ${brokerRegistration().uuid})`);
    expect(lxd.calls.map((call) => call.method)).toEqual(['getConfig']);
    lxd.config = {};
    await expect(proveOrigin(deps, token())).rejects.toThrow('(volatile.uuid none,');
  });

  it('refuses when the instance is gone', async () => {
    const { deps } = setup();
    lxd.config = 'gone';
    await expect(proveOrigin(deps, token())).rejects.toThrow(new Refused('instance web1 does not exist'));
  });

  it('refuses when the token file cannot be read (a FIFO, a stall: LXD gives up)', async () => {
    const { deps } = setup();
    lxd.readError = new LxdError('timed out after 5s', 'failed', []);
    await expect(proveOrigin(deps, token())).rejects.toThrow(new Refused("the token file of web1 cannot be read: timed out after 5s"));
  });

  it('LXD failing otherwise is no refusal: the error goes up as the host\'s failure', async () => {
    const { deps } = setup();
    const failing = lxd.asLxd();
    failing.getConfig = async () => {
      throw new LxdError('LXD is not reachable', 'unreachable', []);
    };
    const error = await proveOrigin(deps, token()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LxdError);
    expect(error).not.toBeInstanceOf(Refused);
  });

  it('every request is proved, a result too', async () => {
    const { deps } = setup();
    const request = resultRequest();
    lxd.tokenText = 'other';
    await expect(handleRequest(deps, request)).rejects.toBeInstanceOf(Refused);
    expect(await listReports(stateDir)).toEqual([]);
  });
});

describe('a snapshot request', () => {
  it('takes a snapshot of the registered instance with its expiry, and answers with the host\'s rollback command', async () => {
    const { deps } = setup({ hostInstance: 'web1', hostOptions: '--project default' });
    const answer = await handleRequest(deps, snapshotRequest());
    expect(lxd.created).toEqual([{ ref: REF, name: 'safeupdate-hook-20261202-080000', expiresAt: new Date('2026-12-03T08:00:00.000Z') }]);
    expect(answer).toEqual({
      ok: true, snapshot: 'safeupdate-hook-20261202-080000', expiresAt: '2026-12-03T08:00:00.000Z', seconds: expect.any(Number) as number, reused: false,
      rollback: 'safeupdate rollback web1 safeupdate-hook-20261202-080000 --project default',
    });
    expect(memory.snapshotTimes).toEqual([clock.toISOString()]);
    expect(memory.runs).toEqual([{ run: 'boot:100:1', reportId: expect.stringMatching(/^20261202T080000Z-web1-hook-[0-9a-f]{4}$/) as string, snapshot: 'safeupdate-hook-20261202-080000', at: clock.toISOString() }]);
  });

  it('a snapshot that never expires is asked for without an expiry', async () => {
    const { deps } = setup({ expirySeconds: null });
    const answer = await handleRequest(deps, snapshotRequest());
    expect(lxd.created[0]!.expiresAt).toBeNull();
    expect(answer).toMatchObject({ ok: true, expiresAt: null });
  });

  it('never replaces a snapshot: a name taken gets a suffix', async () => {
    const { deps } = setup();
    lxd.snapshots = [snapshot('safeupdate-hook-20261202-080000'), snapshot('safeupdate-hook-20261202-080000-2')];
    await handleRequest(deps, snapshotRequest());
    expect(lxd.created[0]!.name).toBe('safeupdate-hook-20261202-080000-3');
  });

  it('one snapshot per apt run: a second request of the same run reuses it, no snapshot taken, no rate spent', async () => {
    const { deps } = setup();
    const first = await handleRequest(deps, snapshotRequest('boot:100:1'));
    later(30);
    const second = await handleRequest(deps, snapshotRequest('boot:100:1'));
    expect(lxd.created).toHaveLength(1);
    expect(lxd.calls.filter((call) => call.method === 'createSnapshot')).toHaveLength(1);
    expect(second).toEqual({ ok: true, snapshot: (first as { snapshot: string }).snapshot, expiresAt: null, seconds: 0, reused: true, rollback: `safeupdate rollback web1 ${(first as { snapshot: string }).snapshot}` });
    expect(memory.snapshotTimes).toHaveLength(1);
    // Another run takes its own.
    await handleRequest(deps, snapshotRequest('boot:200:1'));
    expect(lxd.created).toHaveLength(2);
  });

  it('the cap: with maxSnapshots hook snapshots there, the next is refused; other snapshots do not count', async () => {
    const { deps } = setup({ maxSnapshots: 3 });
    lxd.snapshots = [snapshot(`${HOOK_SNAPSHOT_PREFIX}a`), snapshot(`${HOOK_SNAPSHOT_PREFIX}b`), snapshot('safeupdate-20261201-1'), snapshot('manual')];
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    expect(lxd.created).toHaveLength(1);
    later(1);
    await expect(handleRequest(deps, snapshotRequest('boot:2:1'))).rejects.toThrow(new Refused('3 hook snapshots exist (at most 3): delete some on the host (safeupdate prune) or wait for them to expire'));
    expect(lxd.created).toHaveLength(1);
    // Deleted on the host: room again.
    lxd.snapshots = lxd.snapshots.filter((item) => item.name !== `${HOOK_SNAPSHOT_PREFIX}a`);
    await handleRequest(deps, snapshotRequest('boot:3:1'));
    expect(lxd.created).toHaveLength(2);
  });

  it('the rate: at most maxSnapshotsPerWindow in rateWindowSeconds, then refused until the window has passed', async () => {
    const { deps } = setup({ maxSnapshotsPerWindow: 2, rateWindowSeconds: 600 });
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    later(60);
    await handleRequest(deps, snapshotRequest('boot:2:1'));
    later(60);
    await expect(handleRequest(deps, snapshotRequest('boot:3:1'))).rejects.toThrow(new Refused('rate limit: 2 hook snapshots in the last 600s (at most 2)'));
    expect(lxd.created).toHaveLength(2);
    // The first leaves the window 600s after it was taken.
    later(481);
    await handleRequest(deps, snapshotRequest('boot:4:1'));
    expect(lxd.created).toHaveLength(3);
  });

  it('a snapshot that fails still spends the rate (an apt loop of failures must not hammer LXD); the run is not marked', async () => {
    const { deps } = setup({ maxSnapshotsPerWindow: 1 });
    lxd.createError = new LxdError('no space left on device', 'failed', []);
    await expect(handleRequest(deps, snapshotRequest('boot:1:1'))).rejects.toThrow('no space left on device');
    expect(memory.snapshotTimes).toHaveLength(1);
    expect(memory.runs).toEqual([]);
    lxd.createError = null;
    later(1);
    await expect(handleRequest(deps, snapshotRequest('boot:1:1'))).rejects.toThrow('rate limit');
  });

  it('the rate and the cap hold for a new broker too: they are counted from its memory and from LXD', async () => {
    const { deps } = setup({ maxSnapshotsPerWindow: 1 });
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    const restarted = brokerDeps(lxd, stateDir, { registration: brokerRegistration({ maxSnapshotsPerWindow: 1 }), memory: JSON.parse(JSON.stringify(memory)) as BrokerMemory, now: () => clock });
    later(1);
    await expect(handleRequest(restarted.deps, snapshotRequest('boot:2:1'))).rejects.toThrow('rate limit');
  });

  it('the host\'s report of the run: the command and user as the hook said, the baseline, waiting for the result', async () => {
    const { deps } = setup();
    await handleRequest(deps, snapshotRequest('boot:1:1', { command: 'apt-get install nginx', user: 'alice (via sudo)', failedUnits: ['old.service'] }));
    const [report] = await listReports(stateDir);
    expect(report!.command).toEqual(['[apt hook]', 'apt-get install nginx']);
    expect(report!.runId).toBe(memory.runs[0]!.reportId);
    const item = report!.instances[0]!;
    expect(item).toMatchObject({ instance: 'web1', project: 'default', outcome: 'needs-attention', snapshot: { name: 'safeupdate-hook-20261202-080000', expiresAt: '2026-12-03T08:00:00.000Z' } });
    expect(item.error).toEqual({ step: 'post-check', message: 'no result from the hook after dpkg yet (dpkg may still run, or the apt run died)' });
    expect(item.steps[0]).toMatchObject({ action: 'snapshot', ok: true, message: 'taken for the apt run of alice (via sudo)' });
    expect(item.warnings[0]).toMatch(/^recorded by the apt hook inside the instance/);
    // rollback judges a restore of it against that baseline.
    expect(await findBaseline(stateDir, 'web1', 'safeupdate-hook-20261202-080000')).toEqual({ failedUnits: ['old.service'], passedChecks: ['systemd'], judged: ['systemd'] });
  });
});

describe('a result request', () => {
  it('all checks passed: the run\'s report is updated', async () => {
    const { deps } = setup();
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    later(90);
    const answer = await handleRequest(deps, resultRequest('boot:1:1', [{ name: 'systemd', status: 'ok', message: 'running' }, { name: 'exec:x', status: 'warning', message: 'exit 1' }]));
    expect(answer).toEqual({ ok: true, snapshot: 'safeupdate-hook-20261202-080000', expiresAt: null, seconds: 0, reused: true, rollback: 'safeupdate rollback web1 safeupdate-hook-20261202-080000' });
    const reports = await listReports(stateDir);
    expect(reports).toHaveLength(1);
    const item = reports[0]!.instances[0]!;
    expect(item.outcome).toBe('updated');
    expect(item.error).toBeNull();
    expect(item.durationMs).toBe(90_000);
    expect(item.checks.map((check) => [check.name, check.phase, check.ok, check.required])).toEqual([
      ['systemd', 'baseline', true, false], ['systemd', 'after-update', true, true], ['exec:x', 'after-update', false, false],
    ]);
    expect(reports[0]!.outcome).toBe('updated');
    expect(reports[0]!.command).toEqual(['[apt hook]', 'apt-get upgrade -y']);
  });

  it('a failed check: the report needs attention, with the host\'s rollback command', async () => {
    const { deps } = setup({ hostInstance: 'backup:web1', hostOptions: '--project default' });
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    await handleRequest(deps, resultRequest('boot:1:1', [{ name: 'unit:nginx', status: 'failed', message: 'nginx is failed' }]));
    const item = (await listReports(stateDir))[0]!.instances[0]!;
    expect(item.outcome).toBe('needs-attention');
    expect(item.error).toEqual({
      step: 'checks',
      message: 'checks failed after the apt run: unit:nginx (nginx is failed); on the host: safeupdate rollback backup:web1 safeupdate-hook-20261202-080000 --project default',
    });
  });

  it('the newest result stands for the run (unattended-upgrades calls dpkg several times)', async () => {
    const { deps } = setup();
    await handleRequest(deps, snapshotRequest('boot:1:1'));
    await handleRequest(deps, resultRequest('boot:1:1', [{ name: 'unit:nginx', status: 'failed', message: 'nginx is failed' }]));
    await handleRequest(deps, resultRequest('boot:1:1', [{ name: 'unit:nginx', status: 'ok', message: 'active' }]));
    const reports = await listReports(stateDir);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.instances[0]!.outcome).toBe('updated');
    expect(reports[0]!.instances[0]!.checks.filter((check) => check.phase === 'after-update')).toHaveLength(1);
  });

  it('a run that took no snapshot (the one-time bypass) gets a report of its own, which says so', async () => {
    const { deps } = setup();
    const answer = await handleRequest(deps, resultRequest('boot:9:9'));
    expect(answer).toEqual({ ok: true, snapshot: null, expiresAt: null, seconds: 0, reused: false, rollback: null });
    const [report] = await listReports(stateDir);
    expect(report!.instances[0]!.warnings).toContain('no snapshot was taken by the hook before this apt run');
    expect(report!.command).toEqual(['[apt hook]', '(unknown: no snapshot request)']);
    expect(memory.runs).toEqual([{ run: 'boot:9:9', reportId: report!.runId, snapshot: null, at: clock.toISOString() }]);
    // Its next result lands in the same report.
    await handleRequest(deps, resultRequest('boot:9:9'));
    expect(await listReports(stateDir)).toHaveLength(1);
    expect(lxd.created).toEqual([]);
  });
});
