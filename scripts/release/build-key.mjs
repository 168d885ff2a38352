// What a release build was made from: the commit, plus a hash of any uncommitted change to the
// files that go into it. The tests reuse release/ when the key is the same (test/e2e/release.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url).pathname;
const INPUTS = ['bin', 'hooks', 'scripts', 'src', 'package.json', 'package-lock.json', 'README.md', 'LICENSE'];

const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

export function buildKey() {
  const commit = git('rev-parse', 'HEAD').trim();
  const changed = git('diff', 'HEAD', '--', ...INPUTS);
  const untracked = git('ls-files', '--others', '--exclude-standard', '-z', '--', ...INPUTS).split('\0').filter(Boolean).sort();
  if (!changed && untracked.length === 0) return { commit, key: commit, clean: true };
  const hash = createHash('sha256').update(changed);
  for (const path of untracked) hash.update(`\0${path}\0`).update(readFileSync(`${ROOT}${path}`));
  return { commit, key: `${commit}+${hash.digest('hex').slice(0, 16)}`, clean: false };
}

/** The commit's time, or SOURCE_DATE_EPOCH's: the date the artefacts carry. */
export function buildDate() {
  const epoch = process.env.SOURCE_DATE_EPOCH ?? git('log', '-1', '--format=%ct').trim();
  return new Date(Number(epoch) * 1000);
}
