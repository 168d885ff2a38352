import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './lab.js';

// No LXD here: what is published must install and run on its own. It has no dependencies: the
// libraries are in its bundle (scripts/bundle.mjs), so an install fetches nothing else.
describe('the published package', () => {
  let dir: string;
  let prefix: string;
  let bin: string;
  let packed: string[];
  let version: string;

  beforeAll(async () => {
    ({ version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string });
    dir = await mkdtemp(join(tmpdir(), 'safeupdate-package-'));
    // The e2e suite runs after `npm run build`: pack that build (prepare would rebuild it).
    const pack = await execa('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packed = info!.files.map((file) => file.path);
    // An empty prefix: nothing from the repository's node_modules can stand in for a missing dependency.
    prefix = join(dir, 'prefix');
    await execa('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', join(dir, info!.filename)]);
    bin = join(prefix, 'node_modules/.bin/safeupdate');
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds the executable, its bundle with the bundled libraries\' licences, the hooks, README and LICENSE; not the sources, tests or tsc\'s output', () => {
    expect(packed).toEqual(
      expect.arrayContaining(['bin/safeupdate.js', 'dist/bundle/main.js', 'dist/bundle/THIRD-PARTY-NOTICES.txt', 'hooks/apt/guard', 'hooks/systemd/safeupdate-hook@.service', 'package.json', 'README.md', 'LICENSE']),
    );
    expect(packed.filter((path) => /^(src|test|node_modules)\//.test(path) || (path.startsWith('dist/') && !path.startsWith('dist/bundle/')) || path.endsWith('.map'))).toEqual([]);
  });

  it('has no runtime dependencies: the install brings nothing but safeupdate itself', async () => {
    const manifest = JSON.parse(await readFile(join(prefix, 'node_modules/safeupdate/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    expect((await readdir(join(prefix, 'node_modules'))).filter((name) => !name.startsWith('.'))).toEqual(['safeupdate']);
    const notices = await readFile(join(prefix, 'node_modules/safeupdate/dist/bundle/THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const library of ['commander', 'execa', 'listr2', 'zod', 'yaml']) expect(notices).toMatch(new RegExp(`^${library} \\d`, 'm'));
  });

  it('--version prints the version of package.json', async () => {
    const run = await execa(bin, ['--version'], { reject: false, cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });

  it('--help lists the subcommands and the exit codes', async () => {
    const run = await execa(bin, ['--help'], { reject: false, cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    for (const command of ['run', 'check', 'recover', 'snapshots', 'prune', 'rollback', 'sync', 'schedule', 'history', 'show', 'completion']) {
      expect(run.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
    expect(run.stdout).toContain('Exit codes:');
    const runHelp = await execa(bin, ['run', '--help'], { reject: false, cwd: dir });
    expect(runHelp.stdout).toContain('--junit <file>');
    expect(runHelp.stdout).toContain('--report <file>');
  });
});
