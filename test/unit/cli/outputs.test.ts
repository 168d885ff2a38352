import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandGuard, detectCi, outputFold } from '../../../src/cli/outputs.js';
import { lineProgress } from '../../../src/cli/progress.js';
import type { RunEvent } from '../../../src/run/events.js';
import { runCli } from '../../support/cli.js';
import { obeyedCommands, stopTokens } from '../../support/actions-runner.js';
import { execResult, FakeLxd, isCommand, isEvidence, restoreOf, runningContainer, startOf, stopOf } from '../../support/fake-lxd.js';

const UPDATE = ['apt-get', 'upgrade', '-y'];
const resolved = { remote: 'local', name: 'web1', project: 'default' };
const isTrue = isCommand(['sh', '-c', 'true']);

let dir: string;
let lxd: FakeLxd;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-outputs-'));
  lxd = new FakeLxd();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const result = await runCli(args, { lxd, env: { SAFEUPDATE_STATE_DIR: join(dir, 'state'), ...env } });
  lxd.assertDone();
  return result;
}

/** A run whose update fails (apt exits 100, its output ending mid-line), rolled back: exit 1. */
function scriptFailedUpdate(output = 'Setting up demo (3.0) ...\nE: Sub-process /usr/bin/dpkg returned an error code (1)') {
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => runningContainer());
  lxd.expect('getSpace', () => ({ driver: 'btrfs', freeBytes: null, usedByInstanceBytes: null }));
  lxd.expect('exec', () => execResult(), isTrue, 'baseline check');
  lxd.expect('listSnapshots', () => []);
  let taken: string | null = null;
  lxd.expect('createSnapshot', (args) => {
    taken = args[1] as string;
  });
  lxd.expect('exec', () => execResult({ exitCode: 100, stdout: output }), isCommand(UPDATE), 'update');
  lxd.expect('exec', () => execResult({ stdout: 'evidence' }), isEvidence, 'evidence');
  lxd.expect('getInstance', () => runningContainer());
  lxd.expect('stopInstance', () => undefined, stopOf(resolved));
  lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => taken));
  lxd.expect('startInstance', () => undefined, startOf(resolved));
  lxd.expect('exec', () => execResult(), isTrue, 'after-rollback check');
  lxd.expect('getInstance', () => runningContainer());
}

/** `safeupdate check web1 --check exec:true`: healthy, exit 0. */
/** `during`: what else happens while the check runs. */
function scriptHealthyCheck(during: () => Promise<unknown> = async () => {}) {
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => runningContainer());
  lxd.expect('exec', async () => {
    await during();
    return execResult();
  }, isTrue, 'check');
}

describe('--junit and --report', () => {
  it('write the JUnit XML and the JSON report beside stdout, which stays the report alone', async () => {
    scriptFailedUpdate();
    const junit = join(dir, 'junit.xml');
    const reportFile = join(dir, 'report.json');
    const { code, stdout } = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--json', '--junit', junit, '--report', reportFile, '--', ...UPDATE]);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.outcome).toBe('rolled-back');
    expect(await readFile(reportFile, 'utf8')).toBe(stdout);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(await readFile(junit, 'utf8'));
    expect(xml.testsuites).toMatchObject({ failures: '1', errors: '0' });
    expect(xml.testsuites.testsuite).toMatchObject({ name: 'web1', tests: String(report.instances[0].steps.length + report.instances[0].checks.length) });
    const update = xml.testsuites.testsuite.testcase.find((c: { name: string }) => c.name === 'step update');
    expect(update.failure.message).toBe('exit 100');
    expect(update.failure['#text']).toContain(`log: ${report.instances[0].update.logFile}`);
    expect(update.failure['#text']).toContain(`evidence: ${report.instances[0].evidenceDir}`);
  });

  it('a folder that is not there at the start is refused before anything is asked: exit 2', async () => {
    const missing = join(dir, 'no-such-folder');
    const { code, stderr } = await cli(['check', 'web1', '--check', 'exec:true', '--junit', join(missing, 'junit.xml')]);
    expect(code).toBe(2);
    expect(stderr).toBe(`safeupdate: --junit ${missing}/junit.xml: cannot write there (ENOENT: the folder ${missing})\n`);
  });

  it('a file that cannot be written at the end is a one-line warning on stderr; the exit code stays', async () => {
    const missing = join(dir, 'gone-folder');
    await mkdir(missing);
    // The folder was there when the run began, and is gone by its end.
    scriptHealthyCheck(() => rm(missing, { recursive: true }));
    const { code, stderr, stdout } = await cli(['check', 'web1', '--check', 'exec:true', '--junit', join(missing, 'junit.xml'), '--report', join(missing, 'report.json')]);
    expect(code).toBe(0);
    expect(stdout).toContain('web1: healthy');
    const warnings = stderr.split('\n').filter((line) => line.startsWith('safeupdate: could not write'));
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^safeupdate: could not write the report to ${missing}/report.json: ENOENT`)),
      expect.stringMatching(new RegExp(`^safeupdate: could not write the JUnit report to ${missing}/junit.xml: ENOENT`)),
    ]);
  });
});

describe('GitHub Actions', () => {
  it('appends the Markdown summary, prints annotations on stderr and groups the update output, stdout stays JSON', async () => {
    scriptFailedUpdate();
    const summary = join(dir, 'step_summary.md');
    await writeFile(summary, '# earlier step\n');
    const { code, stdout, stderr } = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--json', '--', ...UPDATE], {
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summary,
    });
    expect(code).toBe(1);
    expect(() => JSON.parse(stdout)).not.toThrow();
    const markdown = await readFile(summary, 'utf8');
    expect(markdown.startsWith('# earlier step\n### ❌ web1: update failed; rolled back and healthy again\n')).toBe(true);
    expect(markdown).toContain('**Rollback:** ✔ stop');
    // The output inside the group, and inside a block where the runner obeys no command (below).
    expect(stderr).toMatch(
      /::group::Update: apt-get upgrade -y\n::stop-commands::([0-9a-f]{32})\nSetting up demo \(3\.0\) \.\.\.\nE: Sub-process \/usr\/bin\/dpkg returned an error code \(1\)\n::\1::\n::endgroup::\n/,
    );
    expect(stderr).toContain('::error title=safeupdate web1%3A update failed; rolled back and healthy again::update: the update command exited 100\n');
  });

  // What the container prints is not safeupdate's to obey: a maintainer script could mask the log,
  // forge an error or close safeupdate's group.
  const FORGED = '::add-mask::hunter2\n  ::error title=forged::from postinst\n::endgroup::\n::stop-commands::guess\n::guess::\n::warning::after a guessed token';

  it('the runner obeys none of the workflow commands the update prints, only safeupdate\'s own', async () => {
    scriptFailedUpdate(`Setting up demo (3.0) ...\n${FORGED}`);
    const { code, stdout, stderr } = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--', ...UPDATE], { GITHUB_ACTIONS: 'true' });
    expect(code).toBe(1);
    // The forged lines are still in the log for a human to read.
    expect(stderr).toContain('::error title=forged::from postinst');
    expect(obeyedCommands(stderr)).toEqual([
      'group::Update: apt-get upgrade -y',
      'endgroup::',
      'error title=safeupdate web1%3A update failed; rolled back and healthy again::update: the update command exited 100',
    ]);
    // The summary on stdout quotes what the run found, and is guarded too.
    expect(obeyedCommands(stdout)).toEqual([]);
    // Safeupdate's own blocks (the update printed one with the token "guess").
    const tokens = stopTokens(stderr + stdout).filter((token) => token !== 'guess');
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
    // Fresh for every block, and for every run: none can be learnt from an earlier log.
    expect(new Set(tokens).size).toBe(tokens.length);
    scriptFailedUpdate(`Setting up demo (3.0) ...\n${FORGED}`);
    const again = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--', ...UPDATE], { GITHUB_ACTIONS: 'true' });
    expect(stopTokens(again.stderr).filter((token) => tokens.includes(token))).toEqual([]);
  });

  it('with --json, stdout stays the JSON report alone (its strings cannot start a line)', async () => {
    scriptFailedUpdate(`Setting up demo (3.0) ...\n${FORGED}`);
    const { stdout, stderr } = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--json', '--', ...UPDATE], { GITHUB_ACTIONS: 'true' });
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(obeyedCommands(stderr).map((c) => c.split('::')[0])).toEqual(['group', 'endgroup', 'error title=safeupdate web1%3A update failed; rolled back and healthy again']);
  });

  it('without GITHUB_ACTIONS there are no workflow commands, and without GITHUB_STEP_SUMMARY no summary', async () => {
    scriptFailedUpdate();
    const { stderr } = await cli(['web1', '--check', 'exec:true', '--no-package-report', '--', ...UPDATE]);
    expect(stderr).not.toContain('::');
    expect(stderr).toContain('▸ Update: apt-get upgrade -y\nSetting up demo');
  });
});

describe('CI detection and folding the update output', () => {
  it('knows GitHub Actions and GitLab CI by their variables', () => {
    expect(detectCi({ GITHUB_ACTIONS: 'true' })).toBe('github');
    expect(detectCi({ GITLAB_CI: 'true' })).toBe('gitlab');
    expect(detectCi({ GITHUB_ACTIONS: 'false' })).toBeNull();
    expect(detectCi({ CI: 'true' })).toBeNull();
  });

  const EVENTS: RunEvent[] = [
    { type: 'step-start', action: 'snapshot', title: 'Snapshot' },
    { type: 'step-end', step: { action: 'snapshot', ok: true, durationMs: 900, message: 'safeupdate-1' } },
    { type: 'step-start', action: 'update', title: 'Update: sh -c a\nb' },
    { type: 'output', chunk: 'Setting up demo (2.0) ...\n' },
    { type: 'output', chunk: 'done, no newline' },
    { type: 'step-end', step: { action: 'update', ok: true, durationMs: 580, message: 'exit 0' } },
  ];

  function render(fold: ReturnType<typeof outputFold>, options: { quiet?: boolean; showOutput?: boolean } = {}): string {
    let text = '';
    const progress = lineProgress({ write: (chunk) => (text += chunk), verbose: false, quiet: options.quiet ?? false, showOutput: options.showOutput ?? true, fold });
    EVENTS.forEach(progress.onEvent);
    return text;
  }

  it('GitHub: ::group:: (the title escaped as data) and ::endgroup:: on a line of its own', () => {
    expect(render(outputFold('github'))).toBe(
      '▸ Snapshot\n✔ snapshot (900ms): safeupdate-1\n::group::Update: sh -c a%0Ab\nSetting up demo (2.0) ...\ndone, no newline\n::endgroup::\n✔ update (580ms): exit 0\n',
    );
  });

  it('GitLab: a collapsed section with the time in unix seconds', () => {
    let now = 1_764_130_855_900;
    const fold = outputFold('gitlab', () => (now += 1000));
    expect(render(fold)).toBe(
      '▸ Snapshot\n✔ snapshot (900ms): safeupdate-1\n' +
        '\x1b[0Ksection_start:1764130856:safeupdate_update[collapsed=true]\r\x1b[0KUpdate: sh -c a b\n' +
        'Setting up demo (2.0) ...\ndone, no newline\n' +
        '\x1b[0Ksection_end:1764130857:safeupdate_update\r\x1b[0K\n✔ update (580ms): exit 0\n',
    );
  });

  it('nothing to fold when the output is not shown (--quiet, an interactive update)', () => {
    expect(render(outputFold('github'), { quiet: true })).toBe('');
    expect(render(outputFold('github'), { showOutput: false })).not.toContain('::');
  });
});

describe('the command guard (GitHub Actions)', () => {
  it('opens a block for text, closes it on a line of its own for a command, and takes a new token for the next block', () => {
    let out = '';
    let n = 0;
    const guard = commandGuard((text) => (out += text), () => `token${++n}`);
    guard.text('apt says\n');
    guard.text('no newline');
    guard.command('::group::Update\n');
    guard.text('::endgroup::\n');
    guard.end();
    guard.end();
    expect(out).toBe('::stop-commands::token1\napt says\nno newline\n::token1::\n::group::Update\n::stop-commands::token2\n::endgroup::\n::token2::\n');
    expect(obeyedCommands(out)).toEqual(['group::Update']);
  });
});
