import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** This state folder's host id, made once: the hostname alone does not tell two hosts apart. */
export async function hostId(stateDir: string): Promise<string> {
  const path = join(stateDir, 'host-id');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(stateDir, { recursive: true });
  // Written whole elsewhere, then linked: a run starting at the same time never reads it half-written.
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${randomBytes(8).toString('hex')}\n`);
  try {
    await link(temp, path);
  } catch (error) {
    // Another run made it first: use that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
  return (await readFile(path, 'utf8')).trim();
}
