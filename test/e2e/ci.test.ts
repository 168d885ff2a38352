import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/report.js';
import { obeyedCommands } from '../support/actions-runner.js';
import { execArgv, expandInstance, readUnitFile, setting } from '../support/systemd-unit.js';
import { alive, BACKUP_REMOTE, BIN, demoVersion, E2E_PREFIX, launch, lxc, ownerPid, publish, removeAll, ROOT, safeupdate, uniqueName, UPGRADE } from './lab.js';

/**
 * The CI story: a job with a client configuration of its own (LXD_CONF, a fresh folder) and a
 * client certificate that the LXD server (the lab's second daemon, labbackup:) trusts for one
 * project only, updates an instance in that project over HTTPS. Every step mirrors docs/ci.md.
 */

const SERVER = BACKUP_REMOTE;
/** What the server's admin copies from the server as the secret LXD_SERVER_CRT (scripts/lab: LXD_DIR). */
const SERVER_CRT = '/var/lib/safeupdate-lab/backup-lxd/server.crt';
const IMAGE = 'safeupdate-lab';
/** The runner's own client configuration, which the job must leave alone. */
const RUNNER_CONF = process.env.LXD_CONF ?? join(homedir(), '.config/lxc');

/** The job's setup step, line for line as in docs/ci.md (there in a `run: |` block), the secrets given as text. */
const CI_SETUP = `
mkdir -p -m 700 "$LXD_CONF" "$LXD_CONF/servercerts"
printf '%s\\n' "$LXD_CLIENT_CRT" > "$LXD_CONF/client.crt"
printf '%s\\n' "$LXD_CLIENT_KEY" > "$LXD_CONF/client.key"
printf '%s\\n' "$LXD_SERVER_CRT" > "$LXD_CONF/servercerts/ci.crt"
chmod 600 "$LXD_CONF/client.key"
lxc remote add ci "$LXD_SERVER_URL" --project "$LXD_PROJECT" </dev/null
`;

/** The same in GitLab's `before_script`, where the secrets are File variables: each holds a file's path. */
const CI_SETUP_FILES = `
mkdir -p -m 700 "$LXD_CONF" "$LXD_CONF/servercerts"
cp "$LXD_CLIENT_CRT" "$LXD_CONF/client.crt"
cp "$LXD_CLIENT_KEY" "$LXD_CONF/client.key"
cp "$LXD_SERVER_CRT" "$LXD_CONF/servercerts/ci.crt"
chmod 600 "$LXD_CONF/client.key"
lxc remote add ci "$LXD_SERVER_URL" --project "$LXD_PROJECT" </dev/null
`;

/**
 * The CI's project on the server, as docs/ci.md makes it: restricted=true (with the restricted.*
 * keys at their defaults, which forbid privileged containers and host disks) and snapshots allowed;
 * its own default profile, which a restricted project needs, with the root disk.
 */
const PROJECT_CONFIG = ['-c', 'features.images=false', '-c', 'restricted=true', '-c', 'restricted.snapshots=allow'];

const temps: string[] = [];
async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `safeupdate-${label}-`));
  temps.push(dir);
  return dir;
}

/** The server's trusted certificates, by name (fingerprint, restricted, projects). */
async function trustEntries(): Promise<Array<{ name: string; fingerprint: string; restricted: boolean; projects: string[] }>> {
  return JSON.parse(await lxc('query', `${SERVER}:/1.0/certificates?recursion=1`));
}

async function projectNames(): Promise<string[]> {
  return (JSON.parse(await lxc('query', `${SERVER}:/1.0/projects`)) as string[]).map((path) => path.split('/').pop()!);
}

/** Removes what a killed run of this file left on the server: instances in its projects, the projects, the trust entries. */
async function sweepLeftovers(): Promise<void> {
  const dead = (name: string) => name.startsWith(E2E_PREFIX) && !alive(ownerPid(name));
  for (const project of (await projectNames()).filter(dead)) {
    const instances = JSON.parse(await lxc('query', `${SERVER}:/1.0/instances?project=${project}`)) as string[];
    for (const path of instances) await lxc('delete', '--force', `${SERVER}:${path.split('/').pop()!.split('?')[0]!}`, '--project', project);
    await lxc('project', 'delete', `${SERVER}:${project}`);
  }
  for (const entry of (await trustEntries()).filter((e) => dead(e.name))) await lxc('config', 'trust', 'remove', `${SERVER}:`, entry.fingerprint);
}

/** The fingerprint behind the lab image's alias on a daemon ('' for the main one, `labbackup:`). */
async function imageFingerprint(remote: string): Promise<string> {
  return JSON.parse(await lxc('query', `${remote}/1.0/images/aliases/${IMAGE}`)).target;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** The runner's own client files and their content, to prove the job did not touch them. */
async function runnerConfig(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(RUNNER_CONF, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[join(entry.parentPath, entry.name)] = await sha256(join(entry.parentPath, entry.name));
  }
  return files;
}

type Attributes = Record<string, string>;
interface JunitCase {
  $: Attributes;
  failure?: { $: Attributes; '#text': string };
}
interface JunitSuite {
  $: Attributes;
  testcase: JunitCase[];
}

async function readJunit(file: string): Promise<{ $: Attributes; testsuite: JunitSuite[] }> {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    attributesGroupName: '$',
    textNodeName: '#text',
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => name === 'testsuite' || name === 'testcase',
  });
  return parser.parse(await readFile(file, 'utf8')).testsuites;
}

describe('a CI job updates an instance on a remote LXD server, with a client certificate restricted to one project', () => {
  /** The project the CI may touch, and the name of its certificate on the server. */
  const project = uniqueName('ciproject');
  const onServer = new Set<string>();
  let secrets: { LXD_CLIENT_CRT: string; LXD_CLIENT_KEY: string; LXD_SERVER_CRT: string };
  let serverUrl: string;

  beforeAll(async () => {
    await sweepLeftovers();
    // scripts/lab up copies the lab image to the server; the same fingerprint as here, or it is stale.
    const [here, there] = await Promise.all([imageFingerprint(''), imageFingerprint(`${SERVER}:`).catch(() => null)]);
    if (here !== there) throw new Error(`the lab image ${IMAGE} on ${SERVER}: is missing or stale; run: scripts/lab up`);
    serverUrl = (await lxc('remote', 'list', '--format', 'csv')).split('\n').find((line) => line.startsWith(`${SERVER},`))!.split(',')[1]!;

    // On the LXD server, once (docs/ci.md): a restricted project for the CI's instances (sharing the
    // default project's images), a key pair, and its certificate trusted for that project only.
    await lxc('project', 'create', `${SERVER}:${project}`, ...PROJECT_CONFIG);
    await lxc('profile', 'device', 'add', `${SERVER}:default`, 'root', 'disk', 'path=/', 'pool=default', '--project', project);
    const keys = await tempDir('ci-keys');
    await execa('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-sha384', '-nodes',
      '-keyout', join(keys, 'client.key'), '-out', join(keys, 'client.crt'), '-days', '3650', '-subj', '/CN=ci-safeupdate',
    ], { stdin: 'ignore' });
    await lxc('config', 'trust', 'add', `${SERVER}:`, join(keys, 'client.crt'), '--name', project, '--restricted', '--projects', project);
    secrets = {
      LXD_CLIENT_CRT: (await readFile(join(keys, 'client.crt'), 'utf8')).trim(),
      LXD_CLIENT_KEY: (await readFile(join(keys, 'client.key'), 'utf8')).trim(),
      LXD_SERVER_CRT: (await readFile(SERVER_CRT, 'utf8')).trim(),
    };
    await rm(keys, { recursive: true });
  });

  afterEach(async () => {
    for (const name of onServer) {
      // reject: false, as removeAll does: a launch that failed half-way may have left nothing.
      await execa('lxc', ['delete', '--force', `${SERVER}:${name}`, '--project', project], { reject: false, stdin: 'ignore' });
      onServer.delete(name);
    }
  });

  afterAll(async () => {
    for (const entry of (await trustEntries()).filter((e) => e.name === project)) await lxc('config', 'trust', 'remove', `${SERVER}:`, entry.fingerprint);
    if ((await projectNames()).includes(project)) await lxc('project', 'delete', `${SERVER}:${project}`);
    for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** The admin's side: a lab instance (demo 1.0 running) in the CI's project on the server. */
  async function launchOnServer(story: string): Promise<string> {
    const name = uniqueName(story);
    onServer.add(name);
    // LXD 5.0.2's dir pool quirk (docs/development.md, The lab): the server's pool needs containers-snapshots/.
    const pool = await lxc('storage', 'get', `${SERVER}:default`, 'source');
    await mkdir(join(pool, 'containers-snapshots'), { recursive: true, mode: 0o700 });
    await lxc('launch', `${SERVER}:${IMAGE}`, `${SERVER}:${name}`, '--project', project);
    for (let i = 0; i < 100; i++) {
      const ready = await execa('lxc', ['exec', `${SERVER}:${name}`, '--project', project, '--', 'sh', '-c',
        'systemctl is-system-running --wait >/dev/null 2>&1; systemctl is-active -q safeupdate-demo'], { reject: false, stdin: 'ignore' });
      if (ready.exitCode === 0) return name;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${SERVER}:${name} did not become ready`);
  }

  const publishOnServer = (name: string, ...versions: string[]) =>
    execa(join(ROOT, 'scripts/lab'), ['publish', `${SERVER}:${name}`, ...versions], { stdin: 'ignore', env: { LAB_PROJECT: project } });
  const versionOnServer = (name: string) => lxc('exec', `${SERVER}:${name}`, '--project', project, '--', 'dpkg-query', '-W', '-f=${Version}', 'safeupdate-demo');

  /**
   * The CI job's setup step: a fresh LXD_CONF from the secrets, with the remote ci. The secrets as
   * text (GitHub Actions), or as GitLab's File variables: files the runner wrote, named by the variables.
   */
  async function ciSetup(serverCrt = secrets.LXD_SERVER_CRT, variables: 'text' | 'files' = 'text') {
    const job = await tempDir('ci-job');
    const env = { LXD_CONF: join(job, 'lxd'), CI: 'true' };
    let given: Record<string, string> = { ...secrets, LXD_SERVER_CRT: serverCrt };
    if (variables === 'files') {
      const dir = await tempDir('ci-file-variables');
      for (const [key, value] of Object.entries(given)) await writeFile(join(dir, key), `${value}\n`, { mode: 0o600 });
      given = Object.fromEntries(Object.keys(given).map((key) => [key, join(dir, key)]));
    }
    const setup = await execa('sh', ['-ec', variables === 'files' ? CI_SETUP_FILES : CI_SETUP], {
      env: { ...env, ...given, LXD_SERVER_URL: serverUrl, LXD_PROJECT: project }, stdin: 'ignore', reject: false,
    });
    return { job, env, setup };
  }

  /** The CI job: its setup, then safeupdate without a terminal, as docs/ci.md runs it. */
  async function ciJob(name: string, variables: 'text' | 'files' = 'text') {
    const { job, env, setup } = await ciSetup(undefined, variables);
    expect(setup.exitCode, setup.stderr).toBe(0);
    const files = { junit: join(job, 'junit.xml'), report: join(job, 'report.json') };
    const run = await safeupdate([`ci:${name}`, '--junit', files.junit, '--report', files.report, '--', ...UPGRADE], {
      ...env, SAFEUPDATE_STATE_DIR: join(job, 'safeupdate-state'),
    });
    const report = existsSync(files.report) ? (JSON.parse(await readFile(files.report, 'utf8')) as Report) : null;
    return { env, run, report, junit: existsSync(files.junit) ? await readJunit(files.junit) : null };
  }

  it('a healthy upgrade (1.0 to 1.1): exit 0, the JUnit file and the report say updated; the runner\'s own lxc config is untouched', async () => {
    const name = await launchOnServer('ciok');
    await publishOnServer(name, '1.1');
    const runnerBefore = await runnerConfig();

    const { env, run, report, junit } = await ciJob(name);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ci:${name}: updated and healthy`);
    expect(await versionOnServer(name)).toBe('1.1');

    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0, command: UPGRADE });
    expect(report!.instances[0]).toMatchObject({ instance: `ci:${name}`, project, outcome: 'updated', finalStatus: 'Running', error: null });
    const snapshot = report!.instances[0]!.snapshot.name!;
    expect(snapshot).toMatch(/^safeupdate-/);
    expect(await lxc('query', `${SERVER}:/1.0/instances/${name}/snapshots?project=${project}`)).toContain(snapshot);

    expect(junit!.$).toMatchObject({ failures: '0', errors: '0' });
    expect(junit!.testsuite.map((s) => s.$.name)).toEqual([`ci:${name}`]);
    const cases = junit!.testsuite[0]!.testcase;
    expect(cases.map((c) => c.$.name)).toEqual(expect.arrayContaining(['step snapshot', 'step update', 'check systemd [after-update]']));
    expect(cases.filter((c) => c.failure)).toEqual([]);

    // The job's client: the secret's certificate (lxc made none of its own), the server's pinned
    // certificate, and the remote ci with the project. The runner's client knows nothing of it.
    const jobConf = env.LXD_CONF;
    expect((await readFile(join(jobConf, 'client.crt'), 'utf8')).trim()).toBe(secrets.LXD_CLIENT_CRT);
    expect((await stat(join(jobConf, 'client.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(jobConf)).mode & 0o777).toBe(0o700);
    expect((await readFile(join(jobConf, 'servercerts/ci.crt'), 'utf8')).trim()).toBe(secrets.LXD_SERVER_CRT);
    const jobRemotes = (await execa('lxc', ['remote', 'list', '--format', 'csv'], { env: { LXD_CONF: jobConf } })).stdout;
    expect(jobRemotes).toContain(`ci,${serverUrl},lxd,tls,`);
    expect(await readFile(join(jobConf, 'config.yml'), 'utf8')).toContain(`project: ${project}`);
    expect(await runnerConfig()).toEqual(runnerBefore);
    expect((await lxc('remote', 'list', '--format', 'csv')).split('\n').map((line) => line.split(',')[0])).not.toContain('ci');
  });

  it('a broken upgrade (2.0: apt exits 0, the service dies) is rolled back: exit 1, a JUnit failure, 1.0 runs again (secrets as GitLab File variables)', async () => {
    const name = await launchOnServer('cibroken');
    await publishOnServer(name, '2.0');

    const { run, report, junit } = await ciJob(name, 'files');
    expect(run.exitCode, run.stderr).toBe(1);
    expect(await versionOnServer(name)).toBe('1.0');

    const instance = report!.instances[0]!;
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(instance).toMatchObject({ project, outcome: 'rolled-back', finalStatus: 'Running', update: { exitCode: 0 } });
    expect(instance.rollback.performed).toBe(true);
    expect(instance.rollback.steps.map((s) => [s.action, s.ok])).toEqual([['stop', true], ['restore', true], ['start', true]]);
    expect(instance.checks.find((c) => c.phase === 'after-update')).toMatchObject({ ok: false, message: expect.stringContaining('safeupdate-demo.service') });
    expect(instance.checks.find((c) => c.phase === 'after-rollback')).toMatchObject({ ok: true });

    const cases = junit!.testsuite[0]!.testcase;
    expect(cases.filter((c) => c.failure).map((c) => c.$.name)).toEqual(['step after-update', 'check systemd [after-update]']);
    expect(cases.find((c) => c.$.name === 'check systemd [after-update]')!.failure!['#text']).toContain('failed units: safeupdate-demo.service');
    for (const action of ['stop', 'restore', 'start', 'after-rollback']) expect(cases.find((c) => c.$.name === `step ${action}`)?.failure).toBeUndefined();
  });

  it('the restricted certificate reaches its project and nothing else on the server', async () => {
    const name = await launchOnServer('cirestricted');
    const { env, setup } = await ciSetup();
    expect(setup.exitCode, setup.stderr).toBe(0);
    const asJob = (...args: string[]) => execa('lxc', args, { env, stdin: 'ignore', reject: false });
    expect((await asJob('list', 'ci:', '--format', 'csv')).stdout).toContain(name);
    const other = await asJob('list', 'ci:', '--project', 'default', '--format', 'csv');
    expect(other.exitCode).not.toBe(0);
    expect(other.stderr).toContain('not authorized');
    // Nor can it change the server: a new project is refused. (Not `lxc config set ci: KEY`: LXD
    // 5.0.2's client panics on it for a restricted certificate before asking the server.)
    const create = await asJob('project', 'create', `ci:${project}-other`);
    expect(create.exitCode).not.toBe(0);
    expect(create.stderr).toContain('not authorized');
    expect(await projectNames()).not.toContain(`${project}-other`);
    // In its own project it cannot reach the host either (restricted=true): no privileged container,
    // no disk from the host, no lifting of the restriction. (A project that is not restricted lets
    // such a certificate do all three, and so act as root on the host.)
    onServer.add(`${name}-priv`);
    const privileged = await asJob('init', `ci:${IMAGE}`, `ci:${name}-priv`, '-c', 'security.privileged=true');
    expect(privileged.exitCode).not.toBe(0);
    expect(privileged.stderr).toContain('Privileged containers are forbidden');
    const plain = `${name}-plain`;
    onServer.add(plain);
    expect((await asJob('init', `ci:${IMAGE}`, `ci:${plain}`)).exitCode).toBe(0);
    const hostDisk = await asJob('config', 'device', 'add', `ci:${plain}`, 'host', 'disk', 'source=/', 'path=/host');
    expect(hostDisk.exitCode).not.toBe(0);
    expect(hostDisk.stderr).toContain('not backed by a pool is forbidden');
    const unrestrict = await asJob('project', 'set', `ci:${project}`, 'restricted=false');
    expect(unrestrict.exitCode).not.toBe(0);
    expect(JSON.parse(await lxc('query', `${SERVER}:/1.0/projects/${project}`)).config).toMatchObject({ restricted: 'true' });
    const check = await safeupdate(['check', `ci:${name}`, '--project', 'default'], env);
    expect(check.exitCode, check.stderr).toBe(3);
    expect((await trustEntries()).find((e) => e.name === project)).toMatchObject({ restricted: true, projects: [project] });
  });

  it('docs/ci.md shows this very setup step and run, line for line, for a shell, GitHub Actions and GitLab CI', async () => {
    const docs = await readFile(join(ROOT, 'docs/ci.md'), 'utf8');
    const blocks = [...docs.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang, body: body! }));
    const examples = {
      shell: blocks.find((b) => b.lang === 'sh' && b.body.includes('lxc remote add')),
      github: blocks.find((b) => b.lang === 'yaml' && b.body.includes('runs-on:')),
      gitlab: blocks.find((b) => b.lang === 'yaml' && b.body.includes('before_script:')),
    };
    const run = `safeupdate ci:web1 --junit junit.xml --report report.json -- sh -c '${UPGRADE[2]}'`;
    for (const [which, block] of Object.entries(examples)) {
      expect(block, which).toBeDefined();
      const setup = (which === 'gitlab' ? CI_SETUP_FILES : CI_SETUP).trim().split('\n');
      // Each line as the shell sees it: without the YAML's indentation, list dash, `run:` and comment.
      const lines = block!.body.split('\n').map((line) => line.replace(/^\s*(- )?(run: )?/, '').replace(/\s+#.*$/, ''));
      const at = lines.indexOf(setup[0]!);
      expect(lines.slice(at, at + setup.length), which).toEqual(setup);
      expect(lines.slice(0, at).some((line) => /^export LXD_CONF=/.test(line)), which).toBe(true);
      if (which !== 'shell') expect(lines, which).toContain(run);
    }
    expect(docs).toContain(`    ${run}\n`);
    expect(docs).toContain('lxc config trust add client.crt --name ci-safeupdate --restricted --projects web');
    // The project as this file makes it, and its root disk.
    expect(docs).toContain(`lxc project create web ${PROJECT_CONFIG.join(' ')}\n`);
    expect(docs).toContain('lxc profile device add default root disk path=/ pool=default --project web\n');
  });

  it('the setup step pins the server certificate: a server that shows another one fails it, with nothing asked', async () => {
    // The main lab daemon's certificate stands for a wrong secret (or a server in the middle).
    const { env, setup } = await ciSetup((await readFile('/var/lib/lxd/server.crt', 'utf8')).trim());
    expect(setup.exitCode).not.toBe(0);
    expect(setup.stderr).toContain('Error: EOF');
    expect(await readFile(join(env.LXD_CONF, 'config.yml'), 'utf8').catch(() => '')).not.toContain('ci:');
  });
});

describe('in GitHub Actions, what the update prints cannot command the runner', () => {
  afterEach(removeAll);

  it('an update whose output forges workflow commands: the log keeps them, the runner would obey only safeupdate\'s own', async () => {
    const name = await launch('ghforge');
    await publish(name, '1.1');
    // Printed from inside the container, as a maintainer script could.
    const forged = 'echo ::add-mask::hunter2; echo "::error title=forged::from the container"; echo ::endgroup::; echo ::stop-commands::guess; echo ::guess::';
    const run = await safeupdate([name, '--', 'sh', '-c', `${forged}; apt-get update -q && apt-get upgrade -y`], { GITHUB_ACTIONS: 'true' });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    expect(run.stderr).toContain('::error title=forged::from the container');
    expect(obeyedCommands(run.stderr)).toEqual([`group::Update: sh -c ${forged.replace(/%/g, '%25')}; apt-get update -q && apt-get upgrade -y`, 'endgroup::']);
    expect(obeyedCommands(run.stdout)).toEqual([]);
  });
});

describe('host-driven unattended upgrades: hooks/systemd/safeupdate-upgrade@.service and .timer', () => {
  const service = readUnitFile(join(ROOT, 'hooks/systemd/safeupdate-upgrade@.service'));
  const STATE = '/var/lib/safeupdate';

  afterEach(removeAll);
  afterAll(async () => {
    for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("the service's command, run by hand for a lab container (%i substituted): exit 0 and the report file", async () => {
    const name = await launch('systemdrun');
    await publish(name, '1.1');
    // ExecStart as systemd splits it, for this instance. Two substitutions, no more: the node
    // script of this checkout for `safeupdate` (not installed here), and a temp folder for
    // /var/lib/safeupdate (systemd's StateDirectory=), so the host's stays untouched.
    const state = await tempDir('systemd-state');
    const local = (word: string) => word.replaceAll(STATE, state);
    const [bin, ...args] = execArgv(setting(service, 'Service', 'ExecStart'), name).map(local);
    expect(bin).toBe('safeupdate');
    const [key, value] = expandInstance(setting(service, 'Service', 'Environment'), name).split('=');
    const run = await execa('node', [BIN, ...args], { reject: false, stdin: 'ignore', env: { [key!]: local(value!) } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');

    const reportFile = join(state, `last-${name}.json`);
    const report = JSON.parse(await readFile(reportFile, 'utf8')) as Report;
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0, command: UPGRADE });
    expect(report.instances[0]!.instance).toBe(name);
    // The run's own folder lands in the same state directory.
    expect(report.runDir.startsWith(join(state, 'runs'))).toBe(true);
    expect(existsSync(join(report.runDir, 'report.json'))).toBe(true);
  });

  it('under a real systemd (in a lab container): exit 0 is a success, exit 1 a failed unit, SIGTERM reaches safeupdate alone', async () => {
    // systemd does not run on this host; a lab container runs systemd 252 (Debian 12). The units go
    // there unchanged, with a stand-in at /usr/local/bin/safeupdate (where systemd finds ExecStart's
    // bare "safeupdate") that records how it was called and exits with the code in
    // /etc/standin-exit: safeupdate itself could not reach LXD from inside the container.
    const name = await launch('systemdunits');
    const dir = await tempDir('systemd-units');
    await writeFile(join(dir, 'safeupdate'), [
      '#!/bin/sh',
      'printf "%s\\n" "$@" > /run/standin-args',
      'if [ -f /etc/standin-hold ]; then',
      // Like safeupdate during a restore: a child lxc client, then an exit after SIGTERM (143).
      '  sh -c \'trap "touch /run/child-got-term; exit 1" TERM; sleep 4 & wait; touch /run/child-finished\' &',
      '  child=$!; trap \'wait $child; exit 143\' TERM; touch /run/standin-ready; wait $child',
      'fi',
      'exit "$(cat /etc/standin-exit 2>/dev/null || echo 0)"',
      '',
    ].join('\n'), { mode: 0o755 });
    await lxc('file', 'push', '--mode', '0755', join(dir, 'safeupdate'), `${name}/usr/local/bin/safeupdate`);
    for (const unit of ['safeupdate-upgrade@.service', 'safeupdate-upgrade@.timer']) {
      await lxc('file', 'push', join(ROOT, 'hooks/systemd', unit), `${name}/etc/systemd/system/${unit}`);
    }
    const inside = (script: string) => execa('lxc', ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore' });
    expect((await inside('systemctl daemon-reload')).exitCode).toBe(0);

    const ok = await inside('systemctl start safeupdate-upgrade@web1.service');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await inside('cat /run/standin-args')).stdout.split('\n')).toEqual([
      'web1', '--report', `${STATE}/last-web1.json`, '--', 'sh', '-c', 'apt-get update -q && apt-get upgrade -y',
    ]);
    expect((await inside(`test -d ${STATE}`)).exitCode).toBe(0);
    expect((await inside('systemctl is-failed safeupdate-upgrade@web1.service')).stdout).toBe('inactive');

    // Exit 1 (rolled back, healthy again) is a failed unit: it shows in systemctl --failed.
    await inside('echo 1 > /etc/standin-exit');
    const failed = await inside('systemctl start safeupdate-upgrade@backup:db1.service');
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toContain('failed because the control process exited with error code');
    expect((await inside('systemctl --failed --plain --no-legend')).stdout).toMatch(/^safeupdate-upgrade@backup:db1\.service\s+loaded failed failed/m);
    expect((await inside('systemctl show -p ExecMainStatus --value safeupdate-upgrade@backup:db1.service')).stdout).toBe('1');
    expect((await inside('cat /run/standin-args')).stdout.split('\n').slice(0, 4)).toEqual(['backup:db1', '--report', `${STATE}/last-backup:db1.json`, '--']);
    // The next good run clears it.
    await inside('echo 0 > /etc/standin-exit');
    expect((await inside('systemctl start safeupdate-upgrade@backup:db1.service')).exitCode).toBe(0);
    expect((await inside('systemctl is-failed safeupdate-upgrade@backup:db1.service')).stdout).toBe('inactive');

    // Stopped mid-run (systemctl stop, a shutdown): SIGTERM goes to safeupdate, not to its children.
    await inside('touch /etc/standin-hold; rm -f /run/child-* /run/standin-ready');
    await inside('systemctl start --no-block safeupdate-upgrade@web2.service; for i in $(seq 100); do [ -f /run/standin-ready ] && break; sleep 0.1; done; systemctl stop safeupdate-upgrade@web2.service');
    expect((await inside('ls /run/child-got-term /run/child-finished 2>/dev/null')).stdout).toBe('/run/child-finished');
    expect((await inside('systemctl show -p ExecMainStatus --value safeupdate-upgrade@web2.service')).stdout).toBe('143');

    const timer = await inside('systemctl enable --now safeupdate-upgrade@web1.timer && systemctl list-timers --plain --no-legend "safeupdate-upgrade@*"');
    expect(timer.exitCode, timer.stderr).toBe(0);
    expect(timer.stdout).toMatch(/safeupdate-upgrade@web1\.timer\s+safeupdate-upgrade@web1\.service/);
    const settings = (await inside('systemctl show -p Persistent -p RandomizedDelayUSec safeupdate-upgrade@web1.timer')).stdout.split('\n');
    expect(settings.sort()).toEqual(['Persistent=yes', 'RandomizedDelayUSec=1h']);
  });
});
