import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from './lab.js';
import { processExists } from '../support/process.js';

export const RELEASE = join(ROOT, 'release');

export interface ReleaseBuild {
  version: string;
  tarball: string;
  executable: string;
  deb: string;
  man: string;
}

interface BuildInfo {
  version: string;
  key: string;
  artefacts: string[];
}

async function buildKey(): Promise<string> {
  const { buildKey: key } = (await import(join(ROOT, 'scripts/release/build-key.mjs'))) as { buildKey: () => { key: string } };
  return key().key;
}

async function readInfo(): Promise<BuildInfo | null> {
  try {
    return JSON.parse(await readFile(join(RELEASE, 'BUILD-INFO.json'), 'utf8')) as BuildInfo;
  } catch {
    return null;
  }
}

/** One build at a time across the suite's workers: mkdir is atomic; a dead builder's lock is taken over. */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = `${RELEASE}.lock`;
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (owner > 0 ? !processExists(owner) : age > 30_000) await rm(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock}: another build held it for ten minutes`);
      else await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  try {
    await writeFile(join(lock, 'pid'), String(process.pid));
    return await work();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * The release artefacts of this checkout: release/ as it is when BUILD-INFO.json names the same
 * sources (commit and uncommitted changes), else built now with `npm run release -- --fast`
 * (about a minute and a half on two idle cores).
 */
export async function releaseBuild(): Promise<ReleaseBuild> {
  return withLock(async () => {
    const key = await buildKey();
    let info = await readInfo();
    if (info?.key !== key) {
      await execa('node', [join(ROOT, 'scripts/release.mjs'), '--fast'], { cwd: ROOT, stdin: 'ignore' });
      info = await readInfo();
      if (info?.key !== key) throw new Error(`release/BUILD-INFO.json names ${info?.key}, not this checkout's ${key}: did the sources change during the build?`);
    }
    const find = (pattern: RegExp) => {
      const name = info!.artefacts.find((artefact) => pattern.test(artefact));
      if (!name) throw new Error(`release/ has no artefact like ${pattern}`);
      return join(RELEASE, name);
    };
    return { version: info.version, tarball: find(/\.tgz$/), executable: find(/-linux-x64$/), deb: find(/_amd64\.deb$/), man: find(/\.1$/) };
  });
}
