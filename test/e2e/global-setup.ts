import { execa } from 'execa';
import { alive, BACKUP_REMOTE, E2E_PREFIX, ownerPid } from './lab.js';

/**
 * The end-to-end tests need the lab (scripts/lab up): a running LXD and the lab image. They fail
 * here, loudly, rather than skip. Instances left by an earlier run that was killed are removed;
 * those of a suite still running (its worker's pid is in the name) are left alone.
 */
export default async function setup(): Promise<void> {
  const daemon = await execa('lxc', ['query', '/1.0'], { reject: false });
  if (daemon.exitCode !== 0) throw new Error(`LXD is not reachable (${daemon.stderr || daemon.message}); run: scripts/lab up`);
  const image = await execa('lxc', ['image', 'info', 'safeupdate-lab'], { reject: false });
  if (image.exitCode !== 0) throw new Error('the lab image safeupdate-lab is missing; run: scripts/lab up');
  const server = await execa('lxc', ['query', `${BACKUP_REMOTE}:/1.0`], { reject: false });
  if (server.exitCode !== 0) throw new Error(`the lab's snapshot server ${BACKUP_REMOTE}: is not reachable; run: scripts/lab up`);
  // Incus beside LXD (scripts/lab up), where it runs: test/e2e/incus.test.ts needs it and says so itself.
  const incus = (await execa('incus', ['query', '/1.0'], { reject: false })).exitCode === 0;
  const daemons = [...['', `${BACKUP_REMOTE}:`].map((remote) => ({ client: 'lxc', remote })), ...(incus ? [{ client: 'incus', remote: '' }] : [])];
  for (const { client, remote } of daemons) {
    const instances = JSON.parse((await execa(client, ['query', `${remote}/1.0/instances`])).stdout) as string[];
    for (const path of instances) {
      const name = path.split('/').pop()!;
      if (name.startsWith(E2E_PREFIX) && !alive(ownerPid(name))) await execa(client, ['delete', '--force', `${remote}${name}`], { reject: false });
    }
  }
  // The full-pool test's small loop-mounted pool, if a killed run left it.
  const pools = JSON.parse((await execa('lxc', ['query', '/1.0/storage-pools'])).stdout) as string[];
  for (const path of pools) {
    const pool = path.split('/').pop()!;
    if (!pool.startsWith(E2E_PREFIX) || alive(ownerPid(pool))) continue;
    await execa('lxc', ['storage', 'delete', pool], { reject: false });
    await execa('umount', [`/mnt/${pool}`], { reject: false });
    await execa('rm', ['-rf', `/mnt/${pool}`, `/var/tmp/${pool}.img`], { reject: false });
  }
}
