import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_REMOTE, BIN, lxc, uniqueName } from './lab.js';

// Two hosts driving one instance on one LXD server: two client configurations (LXD_CONF), each
// with its own client certificate and a remote `srv` pointing at the lab's second daemon over
// HTTPS, and each with its own state folder, so that only the server lease can keep them apart.

const LEASE_SECONDS = 4;
// Twenty clients starting at once on two cores can starve the holder's renewals for longer than
// a 4 s lease, and the lease then lapses (safely: nobody updates). The race is about who takes
// the lease, not about expiry, so it runs with a lease that outlasts the load.
const RACE_LEASE_SECONDS = 60;
const instance = uniqueName('hosts');
const target = `srv:${instance}`;
const profile = `safeupdate-lock_default_${instance}`;
const hosts: Array<{ conf: string; state: string; fingerprint: string }> = [];

async function addHost(n: number) {
  const conf = await mkdtemp(join(tmpdir(), `safeupdate-host${n}-`));
  const state = await mkdtemp(join(tmpdir(), `safeupdate-host${n}-state-`));
  hosts.push({ conf, state, fingerprint: '' });
  const host = hosts.at(-1)!;
  // The first remote add makes the client certificate; it is trusted, then the remote works.
  await execa('lxc', ['remote', 'add', 'srv', 'https://127.0.0.1:8444', '--accept-certificate'], { env: { LXD_CONF: conf }, reject: false, stdin: 'ignore' });
  await execa('lxc', ['config', 'trust', 'add', `${BACKUP_REMOTE}:`, join(conf, 'client.crt'), '--name', `${instance}-host${n}`], { stdin: 'ignore' });
  const { stdout } = await execa('openssl', ['x509', '-in', join(conf, 'client.crt'), '-noout', '-fingerprint', '-sha256']);
  host.fingerprint = stdout.split('=')[1]!.replaceAll(':', '').toLowerCase();
  await execa('lxc', ['remote', 'remove', 'srv'], { env: { LXD_CONF: conf }, reject: false, stdin: 'ignore' });
  await execa('lxc', ['remote', 'add', 'srv', 'https://127.0.0.1:8444', '--accept-certificate'], { env: { LXD_CONF: conf }, stdin: 'ignore' });
}

function env(host: number, extra: Record<string, string> = {}) {
  return { LXD_CONF: hosts[host]!.conf, SAFEUPDATE_STATE_DIR: hosts[host]!.state, SAFEUPDATE_LEASE_SECONDS: String(LEASE_SECONDS), ...extra };
}

function start(host: number, args: string[], extraEnv: Record<string, string> = {}) {
  const child = execa('node', [BIN, ...args], { reject: false, env: env(host, extraEnv), stdin: 'ignore' });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waitFor = (text: string, timeoutMs = 120_000) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const look = () => (stderr.includes(text) ? resolve() : Date.now() - started > timeoutMs ? reject(new Error(`no "${text}" in:\n${stderr}`)) : setTimeout(look, 20));
      look();
    });
  // The report goes to stdout, the progress and warnings to stderr: `output` is both.
  return { child, waitFor, result: child.then((r) => ({ exitCode: r.exitCode ?? -1, output: `${stderr}\n${String(r.stdout)}` })) };
}

const run = (host: number, args: string[], extraEnv: Record<string, string> = {}) => start(host, args, extraEnv).result;
const lease = async () => JSON.parse(await lxc('query', `${BACKUP_REMOTE}:/1.0/profiles?recursion=1`)).find((p: { name: string }) => p.name === profile) ?? null;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  await execa('lxc', ['launch', `${BACKUP_REMOTE}:safeupdate-lab`, `${BACKUP_REMOTE}:${instance}`], { stdin: 'ignore' });
  await addHost(1);
  await addHost(2);
}, 180_000);

afterAll(async () => {
  await execa('lxc', ['delete', '--force', `${BACKUP_REMOTE}:${instance}`], { reject: false, stdin: 'ignore' });
  const profiles = JSON.parse(await lxc('query', `${BACKUP_REMOTE}:/1.0/profiles`)) as string[];
  for (const path of profiles.filter((p) => p.includes(instance))) {
    await execa('lxc', ['profile', 'delete', `${BACKUP_REMOTE}:${decodeURIComponent(path.split('/').at(-1)!)}`], { reject: false, stdin: 'ignore' });
  }
  for (const host of hosts) {
    if (host.fingerprint) await execa('lxc', ['config', 'trust', 'remove', `${BACKUP_REMOTE}:${host.fingerprint}`], { reject: false, stdin: 'ignore' });
    await rm(host.conf, { recursive: true, force: true });
    await rm(host.state, { recursive: true, force: true });
  }
}, 120_000);

describe('two hosts, one instance, one server lease', () => {
  it('twenty concurrent starts over both hosts: exactly one updates, the others exit 3 saying who holds it', async () => {
    const runs = Array.from({ length: 20 }, (_, i) => run(i % 2, [target, '--', 'sleep', '4'], { SAFEUPDATE_LEASE_SECONDS: String(RACE_LEASE_SECONDS) }));
    const results = await Promise.all(runs);
    const codes = results.map((r) => r.exitCode);
    expect(codes.filter((c) => c === 0), results.map((r) => r.output).join('\n----\n')).toHaveLength(1);
    expect(codes.filter((c) => c === 3)).toHaveLength(19);
    for (const refused of results.filter((r) => r.exitCode === 3)) expect(refused.output).toMatch(/is busy: run \S+ (on host \S+ )?\(pid \d+/);
    // The winner's host differs from at least some refused runs: they were told by the lease.
    expect(results.filter((r) => r.output.includes(`holds the server lease ${profile}`)).length).toBeGreaterThan(0);
    expect(await lease()).toBeNull();
  }, 240_000);

  it('a holder killed before the update began: once its lease expires, the other host takes over with a message', async () => {
    const killed = start(0, [target, '--', 'true']);
    await killed.waitFor('Preflight');
    killed.child.kill('SIGKILL');
    await killed.result;
    expect((await lease())?.config['user.safeupdate.phase']).toBe('preparing');
    const early = await run(1, [target, '--', 'true']);
    expect(early.exitCode).toBe(3);
    expect(early.output).toContain(`holds the server lease ${profile}, preparing`);
    // Expiry plus the quarter-length margin for clocks that disagree.
    await sleep(LEASE_SECONDS * 1.25 * 1000 + 500);
    const next = await run(1, [target, '--', 'true']);
    expect(next.exitCode, next.output).toBe(0);
    expect(next.output).toMatch(/took over the server lease of run \S+ on host \S+ \(pid \d+\), which stopped renewing it at .* before it changed anything/);
    expect(await lease()).toBeNull();
  }, 240_000);

  it('a holder killed after the update began: refused by the other host, which recovers it', async () => {
    const killed = start(0, [target, '--', 'sh', '-c', 'touch /root/half-updated; sleep 60']);
    await killed.waitFor('Update:');
    await sleep(1_000);
    killed.child.kill('SIGKILL');
    await killed.result;
    await sleep(LEASE_SECONDS * 1.25 * 1000 + 500);
    const refused = await run(1, [target, '--', 'true']);
    expect(refused.exitCode).toBe(3);
    expect(refused.output).toContain('awaits recovery');
    expect(refused.output).toContain('while updating with snapshot safeupdate-');
    expect(refused.output).toContain(`safeupdate recover srv:${instance}`);
    const recovered = await run(1, ['recover', target, '--yes']);
    expect(recovered.exitCode, recovered.output).toBe(0);
    expect(recovered.output).toContain('ended while updating');
    // Restored to the snapshot taken before the update: the half-made change is gone.
    const probe = await execa('lxc', ['exec', `${BACKUP_REMOTE}:${instance}`, '--', 'test', '-e', '/root/half-updated'], { reject: false, stdin: 'ignore' });
    expect(probe.exitCode).toBe(1);
    expect(await lease()).toBeNull();
    expect(await readFile(join(hosts[1]!.state, 'host-id'), 'utf8')).not.toBe(await readFile(join(hosts[0]!.state, 'host-id'), 'utf8'));
  }, 240_000);
});
