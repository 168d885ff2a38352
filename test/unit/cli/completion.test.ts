import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { SHELLS, type Shell } from '../../../src/cli/completion/tree.js';
import { runCli } from '../../support/cli.js';

// The scripts come from commander's command tree; what they must cover is read here from the other
// side, the help that the same tree prints, so a generator that drops a command or an option fails.

/** `safeupdate [path] --help`: its subcommands and its options (every flag, short and long). */
async function helpOf(path: string[]): Promise<{ commands: string[]; options: string[] }> {
  const { stdout } = await runCli([...path, '--help']);
  const section = (title: string) => stdout.split(`\n${title}:\n`)[1]?.split(/\n\n/)[0]?.split('\n') ?? [];
  return {
    // Only an entry's first line: a long description wraps onto lines indented further.
    commands: section('Commands').flatMap((line) => /^ {2}([\w-]+)/.exec(line)?.[1] ?? []),
    options: section('Options').flatMap((line) => /^ {2}(-\w, )?(--[\w-]+)/.exec(line)?.slice(1, 3).filter(Boolean).map((flag) => flag!.replace(/, $/, '')) ?? []),
  };
}

/** Every command path of the program, with its options: [[], [run], [hooks], [hooks, install], …]. */
async function everyCommand(): Promise<Array<{ path: string[]; commands: string[]; options: string[] }>> {
  const out = [];
  const queue: string[][] = [[]];
  while (queue.length > 0) {
    const path = queue.shift()!;
    const help = await helpOf(path);
    out.push({ path, ...help });
    for (const sub of help.commands) if (sub !== 'help') queue.push([...path, sub]);
  }
  return out;
}

const has = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const scripts = {} as Record<Shell, string>;
let dir: string;
let tree: Awaited<ReturnType<typeof everyCommand>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-completion-'));
  // A stand-in lxc on PATH: the scripts must ask it for names, not guess them.
  await writeFile(join(dir, 'lxc'), '#!/bin/sh\n[ "$*" = "list --format csv -c n" ] && printf "web1\\nweb2\\ndb1\\n"\n');
  await chmod(join(dir, 'lxc'), 0o755);
  for (const shell of SHELLS) {
    const run = await runCli(['completion', shell], { env: { SAFEUPDATE_CLIENT: 'lxc' } });
    expect(run.code, run.stderr).toBe(0);
    scripts[shell] = run.stdout;
    await writeFile(join(dir, `completion.${shell}`), run.stdout);
  }
  tree = await everyCommand();
}, 60_000);

/** The option words a script offers: bash's word lists, zsh's _arguments specs, fish's -s/-l. */
function offeredOptions(shell: Shell): Set<string> {
  const text = scripts[shell];
  if (shell === 'bash') return new Set([...text.matchAll(/options='([^']*)'/g)].flatMap((m) => m[1]!.split(' ')).filter(Boolean));
  if (shell === 'zsh') return new Set([...text.matchAll(/^ {4}'(?:\(- \*\)|\*)?(-{1,2}[\w-]+)/gm)].map((m) => m[1]!).concat([...text.matchAll(/\{(-\w),(--[\w-]+)\}/g)].flatMap((m) => [m[1]!, m[2]!])));
  const lines = text.split('\n').filter((line) => line.startsWith('complete -c safeupdate '));
  return new Set(lines.flatMap((line) => [...line.matchAll(/ -s (\w)/g)].map((m) => `-${m[1]}`).concat([...line.matchAll(/ -l ([\w-]+)/g)].map((m) => `--${m[1]}`))));
}

describe('completion scripts, generated from the command tree', () => {
  it('the help the test reads covers the whole tree (hooks install included)', () => {
    const paths = tree.map((c) => c.path.join(' '));
    expect(paths).toEqual(expect.arrayContaining(['', 'run', 'check', 'hooks', 'hooks install', 'hooks uninstall', 'hooks status', 'completion']));
    expect(tree.find((c) => c.path.join(' ') === 'hooks install')!.options).toEqual(expect.arrayContaining(['--mode', '--disable-timers', '-h', '--help']));
  });

  for (const shell of SHELLS) {
    it(`${shell}: names every subcommand and every option of every command`, () => {
      const offered = offeredOptions(shell);
      // Lists of what is missing, not the script itself: a failure names the command and the word.
      const missing = tree.flatMap((command) => [
        ...command.commands.filter((sub) => !new RegExp(`['\\s]${sub}['\\s)]`).test(scripts[shell])),
        ...command.options.filter((option) => !offered.has(option)),
      ].map((word) => `${command.path.join(' ') || 'safeupdate'}: ${word}`));
      expect(missing).toEqual([]);
    });

    it(`${shell}: offers no option that no command has (no --refresh from a description)`, () => {
      const real = new Set(tree.flatMap((command) => command.options));
      expect([...offeredOptions(shell)].filter((option) => !real.has(option))).toEqual([]);
      expect(offeredOptions(shell).has('--refresh')).toBe(false);
    });
  }

  it('`completion fish` works, and an unknown shell is bad input (exit 2)', async () => {
    expect(scripts.fish).toContain('complete -c safeupdate');
    expect((await runCli(['completion', 'ksh'])).code).toBe(2);
  });

  it('zsh is native (#compdef and _arguments), not bash\'s through bashcompinit', () => {
    expect(scripts.zsh).toMatch(/^#compdef safeupdate\n/);
    expect(scripts.zsh).toContain('_arguments');
    expect(scripts.zsh).not.toContain('bashcompinit');
  });
});

describe('bash completion at work', () => {
  const complete = async (line: string) => {
    const words = line.split(' ');
    const script = `source ${join(dir, 'completion.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _safeupdate; echo "\${COMPREPLY[*]}"`;
    return (await execa('bash', ['-c', script], { env: { PATH: `${dir}:${process.env.PATH}` } })).stdout.trim();
  };

  it('subcommands, instance names asked of lxc, options and their values; nothing after --', async () => {
    expect(await complete('safeupdate we')).toBe('web1 web2');
    expect(await complete('safeupdate pr')).toBe('prune');
    expect(await complete('safeupdate check d')).toBe('db1');
    expect(await complete('safeupdate web1 -- ap')).toBe('');
    expect(await complete('safeupdate web1 --re')).toBe('--refuse --rehearse --restart --report');
    expect(await complete('safeupdate web1 --restart ')).toBe('auto always never');
    expect(await complete('safeupdate --client ')).toBe('lxc incus');
    expect(await complete('safeupdate hooks in')).toBe('install');
    expect(await complete('safeupdate hooks install --mode ')).toBe('guard snapshot');
    expect(await complete('safeupdate hooks install --mode guard w')).toBe('web1 web2');
    // The value of an option is not an instance: after it, instances again.
    expect(await complete('safeupdate --check unit:x w')).toBe('web1 web2');
    expect(await complete('safeupdate completion ')).toBe('bash zsh fish');
    // Twelve bash processes: half a second alone, over a minute twice on two cores loaded by a fleet bench.
  }, 180_000);
});

describe('fish completion at work', () => {
  it.skipIf(!has('fish'))(`subcommands, hooks install's options, instances${has('fish') ? '' : ' (skipped: fish is not installed; scripts/lab up installs it)'}`, async () => {
    const complete = async (line: string) =>
      (await execa('fish', ['-c', `source ${join(dir, 'completion.fish')}; complete -C '${line}'`], { env: { PATH: `${dir}:${process.env.PATH}` } })).stdout
        .split('\n')
        .map((row) => row.split('\t')[0])
        .join(' ');
    expect(await complete('safeupdate we')).toBe('web1 web2');
    expect(await complete('safeupdate hooks ')).toBe('broker help install status uninstall');
    expect(await complete('safeupdate hooks install --mode ')).toBe('guard snapshot');
    expect(await complete('safeupdate web1 -- a')).toBe('');
  }, 60_000);
});

describe('each shell accepts its script', () => {
  const checks: Array<[string, string, (file: string) => [string, string[]]]> = [
    ['bash -n', 'bash', (file) => ['bash', ['-n', file]]],
    ['zsh -n', 'zsh', (file) => ['zsh', ['-n', file]]],
    ['fish -n', 'fish', (file) => ['fish', ['-n', file]]],
    ['shellcheck (bash)', 'shellcheck', (file) => ['shellcheck', ['-s', 'bash', file]]],
  ];
  for (const [title, tool, command] of checks) {
    const shell = (tool === 'shellcheck' ? 'bash' : tool) as Shell;
    it.skipIf(!has(tool))(`${title}${has(tool) ? '' : ` (skipped: ${tool} is not installed; scripts/lab up installs it)`}`, async () => {
      const [bin, args] = command(join(dir, `completion.${shell}`));
      const result = await execa(bin, args, { reject: false });
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    }, 30_000);
  }

  it.skipIf(!has('zsh'))(`zsh: loads under compinit and registers _safeupdate${has('zsh') ? '' : ' (skipped: zsh is not installed)'}`, async () => {
    const script = `autoload -Uz compinit; compinit -u -d ${join(dir, 'zcompdump')}; source ${join(dir, 'completion.zsh')}; print -r -- $_comps[safeupdate]`;
    expect((await execa('zsh', ['-f', '-c', script])).stdout.trim()).toBe('_safeupdate');
  }, 30_000);
});
