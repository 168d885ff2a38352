import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../../src/cli/completion.js';

describe('bash completion', () => {
  it('completes subcommands and instance names asked of lxc', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'safeupdate-completion-'));
    // A stand-in lxc on PATH: the script must ask it for names, not guess them.
    await writeFile(join(bin, 'lxc'), '#!/bin/sh\n[ "$*" = "list -c n --format csv" ] && printf "web1\\nweb2\\ndb1\\n"\n');
    await chmod(join(bin, 'lxc'), 0o755);
    await writeFile(join(bin, 'completion.sh'), completionScript('bash', ['run', 'check', 'prune']));
    const complete = async (words: string[]) => {
      const script = `source ${join(bin, 'completion.sh')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _safeupdate; echo "\${COMPREPLY[*]}"`;
      return (await execa('bash', ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}` } })).stdout.trim();
    };
    expect(await complete(['safeupdate', 'we'])).toBe('web1 web2');
    expect(await complete(['safeupdate', 'pr'])).toBe('prune');
    expect(await complete(['safeupdate', 'check', 'd'])).toBe('db1');
    expect(await complete(['safeupdate', 'web1', '--', 'ap'])).toBe('');
    // Four shells one after the other: on a loaded machine more than vitest's default 5 s.
  }, 30_000);

  it('zsh uses the same function through bashcompinit', () => {
    expect(completionScript('zsh', ['run'])).toMatch(/^#compdef safeupdate\n[\s\S]*bashcompinit[\s\S]*complete -F _safeupdate safeupdate/);
  });
});
