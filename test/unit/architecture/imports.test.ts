import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Who may import whom, folder by folder: docs/architecture.md draws it. Files at the top of src
 * (errors, shell) are for everyone. A folder missing from a list here is a layer above it.
 */
const MAY_IMPORT: Record<string, string[]> = {
  cli: ['fleet', 'run', 'hooks', 'snapshots', 'state', 'report', 'packages', 'checks', 'config', 'lxd'],
  fleet: ['run', 'snapshots', 'state', 'report', 'packages', 'checks', 'config', 'lxd'],
  run: ['snapshots', 'state', 'report', 'packages', 'checks', 'config', 'lxd'],
  hooks: ['state', 'report', 'checks', 'config', 'lxd'],
  snapshots: ['state', 'report', 'checks', 'config', 'lxd'],
  state: ['report', 'checks', 'config', 'lxd'],
  report: ['packages', 'checks', 'config', 'lxd'],
  packages: ['config', 'lxd'],
  // The config schema asks the check parser whether each check entry is valid, so that a bad
  // check is refused when the file is read; checks take durations and the entry's type from config.
  checks: ['config', 'lxd'],
  config: ['checks', 'lxd'],
  lxd: [],
};

let graph: Record<string, string[]>;
beforeAll(async () => {
  const { stdout } = await execa('node_modules/.bin/madge', ['--json', '--extensions', 'ts', '--ts-config', 'tsconfig.json', 'src'], { cwd: ROOT });
  graph = JSON.parse(stdout) as Record<string, string[]>;
}, 120_000);

const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : null);

// A circle is where a layer started to know about the one above it. Type-only imports count too:
// they are the same knowledge.
it('src has no import circles', async () => {
  const { stdout } = await execa('node_modules/.bin/madge', ['--circular', '--json', '--extensions', 'ts', '--ts-config', 'tsconfig.json', 'src'], { cwd: ROOT, reject: false });
  const circles = JSON.parse(stdout) as string[][];
  expect(circles.map((circle) => circle.join(' > '))).toEqual([]);
}, 120_000);

it('each folder imports only the layers below it', () => {
  const wrong: string[] = [];
  for (const [file, imports] of Object.entries(graph)) {
    const from = folderOf(file);
    if (from === null) continue;
    expect(MAY_IMPORT, `${from} is a folder docs/architecture.md does not place`).toHaveProperty(from);
    for (const target of imports) {
      const to = folderOf(target);
      if (to !== null && to !== from && !MAY_IMPORT[from]!.includes(to)) wrong.push(`${file} imports ${target}`);
    }
  }
  expect(wrong).toEqual([]);
});
