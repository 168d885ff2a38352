import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, unitState, UPGRADE } from './lab.js';

/** safeupdate in a real pseudo-terminal (tmux), as an operator types it. */
class Terminal {
  private constructor(readonly session: string, readonly exitFile: string) {}

  static async run(args: string[], stateDir: string): Promise<Terminal> {
    const session = `sue2e-${process.pid}-${Date.now()}`;
    const exitFile = join(stateDir, 'exit-code');
    const quoted = args.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(' ');
    const script = `SAFEUPDATE_STATE_DIR='${stateDir}' node '${BIN}' ${quoted}; echo $? > '${exitFile}'; sleep 600`;
    await execa('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '60', script]);
    return new Terminal(session, exitFile);
  }

  async screen(): Promise<string> {
    return (await execa('tmux', ['capture-pane', '-p', '-S', '-200', '-t', this.session])).stdout;
  }

  async waitFor(text: string, timeoutMs = 120_000): Promise<string> {
    return this.poll(async () => {
      const screen = await this.screen();
      return screen.includes(text) ? screen : null;
    }, timeoutMs, `"${text}" did not appear`);
  }

  async keys(...keys: string[]): Promise<void> {
    await execa('tmux', ['send-keys', '-t', this.session, ...keys]);
  }

  async exitCode(timeoutMs = 120_000): Promise<number> {
    return this.poll(async () => {
      const text = (await readFile(this.exitFile, 'utf8').catch(() => '')).trim();
      return text ? Number(text) : null;
    }, timeoutMs, `no exit within ${timeoutMs} ms`);
  }

  /** Asks every 250 ms until there is an answer; fails with the screen as it is. */
  private async poll<T>(ask: () => Promise<T | null>, timeoutMs: number, failure: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await ask();
      if (answer !== null) return answer;
      if (Date.now() > deadline) throw new Error(`${failure}; the screen:\n${await this.screen()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async close(): Promise<void> {
    await execa('tmux', ['kill-session', '-t', this.session], { reject: false });
  }
}

const terminals: Terminal[] = [];
afterEach(async () => {
  await Promise.all(terminals.splice(0).map((t) => t.close()));
  await removeAll();
});

const INTERACTIVE_UPGRADE = ['sh', '-c', 'apt-get update -q >/dev/null; apt-get upgrade'];

describe('at a terminal', () => {
  it("shows the task list, and apt's own confirmation can be answered", async () => {
    const name = await launch('tty');
    await publish(name, '1.1');
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-tty-'));
    const terminal = await Terminal.run([name, '--check', 'unit:safeupdate-demo', '--', ...INTERACTIVE_UPGRADE], state);
    terminals.push(terminal);
    const before = await terminal.waitFor('Do you want to continue? [Y/n]');
    expect(before).toContain(`✔ Preflight ${name}`);
    expect(before).toContain('✔ Snapshot (');
    await terminal.keys('y', 'Enter');
    expect(await terminal.exitCode()).toBe(0);
    const after = await terminal.screen();
    expect(after).toContain('✔ Checks (after-update)');
    expect(after).toContain(`${name}: updated and healthy`);
    expect(await demoVersion(name)).toBe('1.1');
    // What the terminal showed is kept too, prompt and answer included.
    const [runId] = await readdir(join(state, 'runs'));
    const transcript = await readFile(join(state, 'runs', runId!, name, 'update.log.tty'), 'utf8');
    expect(transcript).toContain('Do you want to continue? [Y/n] y');
    expect(transcript).toContain('Setting up safeupdate-demo (1.1)');
    expect(await readFile(join(state, 'runs', runId!, name, 'update.log'), 'utf8')).toContain('update.log.tty');
  });

  it('Ctrl+C reaches the command inside, and counts as an interrupt: rolled back, exit 130, the terminal cooked again', async () => {
    const name = await launch('ttyint');
    await publish(name, '2.0');
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-tty-'));
    const terminal = await Terminal.run([name, '--check', 'unit:safeupdate-demo', '--', ...INTERACTIVE_UPGRADE], state);
    terminals.push(terminal);
    await terminal.waitFor('Do you want to continue? [Y/n]');
    await terminal.keys('C-c');
    expect(await terminal.exitCode()).toBe(130);
    const screen = await terminal.screen();
    // The rollback is one group in the task list, its steps as subtasks.
    expect(screen).toMatch(/✔ Roll back to safeupdate-\d{8}-\d{6}\n\s+✔ Collect evidence[^\n]*\n\s+✔ Stop [^\n]*\n\s+✔ Restore safeupdate-/);
    expect(screen).toContain('interrupted; rolled back and healthy again');
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    // The summary starts at the left margin: the terminal is no longer raw.
    expect(screen).toMatch(/^ {2}now {8}running$/m);
  });
});

describe('a fleet at a terminal', () => {
  it('draws a group per instance with its steps and outcome, then the table with the totals', async () => {
    const [good, bad] = await Promise.all([launch('tty-fleet-a'), launch('tty-fleet-b')]);
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-tty-fleet-'));
    // The broken demo 2.0 for one of them (its service fails: a definite answer), the good 1.1 for the other.
    await Promise.all([publish(good!, '1.1'), publish(bad!, '2.0')]);
    const terminal = await Terminal.run([good!, bad!, '--parallel', '2', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE], state);
    terminals.push(terminal);
    expect(await terminal.exitCode()).toBe(1);
    const screen = await terminal.screen();
    expect(screen).toContain(`✔ ${good}: updated and healthy in `);
    expect(screen).toContain(`✖ ${bad}: update failed; rolled back and healthy again in `);
    expect(screen).toContain('✔ snapshot (');
    expect(screen).toContain('▸ Roll back to safeupdate-');
    expect(screen).toMatch(/^instance\s+outcome\s+snapshot\s+duration\s+checks\s+member$/m);
    expect(screen).toContain('2 instances: 1 updated, 1 rolled-back');
  });
});

describe('a killed command that held the terminal', () => {
  it('a hanging interactive update killed by --timeout leaves the terminal sane, and is rolled back', async () => {
    const name = await launch('ttyhang');
    await publish(name, '4.0');
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-tty-'));
    const terminal = await Terminal.run([name, '-q', '--timeout', '8s', '--', 'sh', '-c', 'apt-get update -q >/dev/null; apt-get upgrade -y'], state);
    terminals.push(terminal);
    expect(await terminal.exitCode()).toBe(1);
    // Left raw, the terminal would turn each newline into a bare line feed: the summary would
    // drift to the right, line after line, for the rest of the run.
    const screen = await terminal.screen();
    expect(screen).toContain('did not finish within 8s');
    expect(screen).toMatch(/^ {2}rollback {3}✔ stop/m);
    expect(screen).toMatch(/^ {2}now {8}running$/m);
    expect(screen).toMatch(/^run \S+: [^\n]*exit 1;/m);
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('prompts, only at a terminal', () => {
  it('prune: "no" changes nothing (exit 0), Ctrl+C cancels (exit 130); rollback: pick a snapshot, confirm, restored', async () => {
    const name = await launch('prompts');
    for (const snap of ['safeupdate-1', 'safeupdate-2']) await lxc('snapshot', name, snap);
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-tty-'));

    const no = await Terminal.run(['prune', name, '--keep-last', '1'], join(state));
    terminals.push(no);
    await no.waitFor('Delete 1 snapshot(s)');
    await no.keys('n', 'Enter');
    expect(await no.exitCode()).toBe(0);
    expect((await snapshots(name)).length).toBe(2);

    const cancelled = await Terminal.run(['prune', name, '--keep-last', '1'], await mkdtemp(join(tmpdir(), 'safeupdate-tty-')));
    terminals.push(cancelled);
    await cancelled.waitFor('Delete 1 snapshot(s)');
    await cancelled.keys('C-c');
    expect(await cancelled.exitCode()).toBe(130);
    expect((await snapshots(name)).length).toBe(2);

    await publish(name, '1.1');
    await lxc('exec', name, '--', 'sh', '-c', 'apt-get update -q >/dev/null && apt-get install -y -q safeupdate-demo >/dev/null');
    expect(await demoVersion(name)).toBe('1.1');
    const pick = await Terminal.run(['rollback', name, '--check', 'unit:safeupdate-demo'], await mkdtemp(join(tmpdir(), 'safeupdate-tty-')));
    terminals.push(pick);
    await pick.waitFor('to which snapshot?');
    await pick.keys('Down', 'Enter');
    await pick.waitFor('Changes made since are lost');
    await pick.keys('y', 'Enter');
    expect(await pick.exitCode()).toBe(0);
    expect(await pick.screen()).toContain(`${name}: restored`);
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('the record of runs', () => {
  it('history after three runs lists them in order; show prints one again', async () => {
    const name = await launch('history');
    const state = await mkdtemp(join(tmpdir(), 'safeupdate-history-'));
    const env = { SAFEUPDATE_STATE_DIR: state };
    await publish(name, '1.1');
    const runs = [
      await safeupdate([name, '--json', '--dry-run', '--', 'true'], env),
      await safeupdate([name, '--json', '--', 'sh', '-c', 'apt-get update -q && apt-get upgrade -y'], env),
      await safeupdate([name, '--json', '--', 'sh', '-c', 'exit 3'], env),
    ];
    expect(runs.map((r) => r.exitCode)).toEqual([0, 0, 1]);
    const history = await safeupdate(['history', name, '--json'], env);
    expect(JSON.parse(history.stdout).map((r: { runId: string; outcome: string }) => [r.runId, r.outcome])).toEqual(
      runs.map((r) => [r.report!.runId, r.report!.outcome]),
    );
    expect(JSON.parse(history.stdout).map((r: { outcome: string }) => r.outcome)).toEqual(['planned', 'updated', 'rolled-back']);
    const table = await safeupdate(['history'], env);
    expect(table.stdout.split('\n')[0]).toMatch(/^WHEN \(UTC\)\s+INSTANCE\s+OUTCOME/);
    const shown = await safeupdate(['show', runs[2]!.report!.runId], env);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain(`${name}: update failed; rolled back and healthy again`);
    expect(shown.stdout).toContain(runs[2]!.report!.instances[0]!.update.logFile!);
  });
});
