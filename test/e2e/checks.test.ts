import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoVersion, exposeDemo, launch, lxc, publish, removeAll, safeupdate, snapshots, uniqueName, UPGRADE } from './lab.js';

afterEach(removeAll);

async function configFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'safeupdate-config-')), 'safeupdate.yaml');
  await writeFile(file, text);
  return file;
}

describe('health checks against a real container', () => {
  it('http and tcp checks through an LXD proxy on the host loopback pass for a healthy service', async () => {
    const name = await launch('http');
    const port = await exposeDemo(name);
    const run = await safeupdate(['check', name, '--json', '--check', `http://127.0.0.1:${port}/health`, '--check', `tcp:127.0.0.1:${port}`]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.report!.instances[0]!.checks.map((c) => [c.phase, c.ok, c.message])).toEqual([
      ['check', true, 'HTTP 200'],
      ['check', true, `127.0.0.1:${port} accepts connections`],
    ]);
  });

  it('a tcp check is not fooled by the proxy when nothing listens inside: exit 1', async () => {
    const name = await launch('tcpproxy');
    const port = await exposeDemo(name);
    await lxc('exec', name, '--', 'systemctl', 'stop', 'safeupdate-demo');
    const config = await configFile(`instances:\n  ${name}:\n    checks:\n      - tcp: "127.0.0.1:${port}"\n        deadline: 3s\n        interval: 1s\n`);
    const run = await safeupdate(['check', name, '--json', '--config', config]);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.report!.instances[0]!.checks[0]!.message).toContain('closed the connection at once');
  });

  it('a slow-starting service (1.2, 8 s) is kept because settle and deadline wait for it', async () => {
    const name = await launch('slow');
    const port = await exposeDemo(name);
    await publish(name, '1.2');
    const config = await configFile(`instances:\n  ${name}:\n    checks:\n      - http: "http://127.0.0.1:${port}/health"\n        expect: ok\n        settle: 2s\n        deadline: 30s\n        interval: 1s\n        timeout: 2s\n`);
    const run = await safeupdate([name, '--json', '--config', config, '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.2');
    const after = run.report!.instances[0]!.checks.find((c) => c.phase === 'after-update')!;
    expect(after.ok).toBe(true);
    expect(after.attempts).toBeGreaterThan(1);
  });

  it('a dead service (2.0) is rolled back within its deadline, found by the http check', async () => {
    const name = await launch('deadhttp');
    const port = await exposeDemo(name);
    await publish(name, '2.0');
    const config = await configFile(`instances:\n  ${name}:\n    checks:\n      - http: "http://127.0.0.1:${port}/health"\n        deadline: 5s\n        interval: 1s\n        timeout: 2s\n`);
    const run = await safeupdate([name, '--json', '--config', config, '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    const after = item.checks.find((c) => c.phase === 'after-update')!;
    expect(after.ok).toBe(false);
    expect(after.durationMs).toBeLessThan(8_000);
    expect(item.checks.find((c) => c.phase === 'after-rollback')).toMatchObject({ ok: true });
    expect(await demoVersion(name)).toBe('1.0');
  });

  it('a failing non-required check is a warning and never a rollback', async () => {
    const name = await launch('optional');
    await publish(name, '1.1');
    const config = await configFile(`defaults:\n  checks:\n    - unit: safeupdate-demo\n    - exec: "test -f /etc/not-there"\n      required: false\n      deadline: 2s\n      interval: 1s\n`);
    const run = await safeupdate([name, '--json', '--config', config, '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    const item = run.report!.instances[0]!;
    expect(item.checks.filter((c) => !c.ok).map((c) => [c.name, c.required])).toContainEqual(['exec:test -f /etc/not-there', false]);
    expect(item.warnings.join('\n')).toContain('not required');
  });

  it('an invalid config file is exit 2 before anything changes, naming the file and the path', async () => {
    const name = await launch('badconfig');
    const config = await configFile(`instances:\n  ${name}:\n    checks:\n      - unit: safeupdate-demo\n        timeout: 5 seconds\n`);
    const run = await safeupdate([name, '--config', config, '--', ...UPGRADE]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(`${config}: instances.${name}.checks[0].timeout: expected a duration like 5s`);
    expect(await snapshots(name)).toEqual([]);
  });

  it('check on a missing instance: exit 3', async () => {
    const run = await safeupdate(['check', uniqueName('nothere')]);
    expect(run.exitCode).toBe(3);
  });
});
