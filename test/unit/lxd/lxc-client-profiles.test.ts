import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { ProfileRef } from '../../../src/lxd/lxd.js';
import { useLxcStandIn } from '../../support/lxc-stand-in.js';

// The profile calls the server lease is made of, against the stand-in `lxc`: the commands they
// run, and how LXD 5.0's answers (verified on the lab daemon) map to results and LxdError kinds.

const standIn = useLxcStandIn('lxc-client-profiles');
const { answer, argvs } = standIn;
const client = () => new LxcClient({ binary: standIn.paths.binary });
const lock: ProfileRef = { remote: 'lab', project: 'prod', name: 'safeupdate-lock_prod_web1' };

describe('profiles', () => {
  it('create is one POST carrying the config: true when made', async () => {
    answer({ stdout: '' });
    expect(await client().createProfile(lock, 'held', { 'user.safeupdate.runId': 'r' })).toBe(true);
    expect(argvs()).toEqual([
      ['query', '--wait', '-X', 'POST', '--data', JSON.stringify({ name: lock.name, description: 'held', config: { 'user.safeupdate.runId': 'r' } }), 'lab:/1.0/profiles?project=prod'],
    ]);
  });

  it('create of a name that exists: false, not an error', async () => {
    answer({ stderr: `Error: Error inserting "${lock.name}" into database: The profile already exists\n`, exitCode: 1 });
    expect(await client().createProfile(lock, '', {})).toBe(false);
  });

  it('create refused by the server (a restricted client) is an error of kind failed', async () => {
    answer({ stderr: 'Error: not authorized\n', exitCode: 1 });
    const error = await client().createProfile(lock, '', {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LxdError);
    expect((error as LxdError).kind).toBe('failed');
  });

  it('get reads through the API; a missing profile is null', async () => {
    answer({ stdout: JSON.stringify({ name: lock.name, description: 'd', config: { a: '1' }, used_by: [] }) }, { stderr: 'Error: Profile not found\n', exitCode: 1 });
    expect(await client().getProfile(lock)).toEqual({ description: 'd', config: { a: '1' }, usedBy: [], etag: null });
    expect(await client().getProfile({ ...lock, project: null })).toBeNull();
    expect(argvs()).toEqual([['query', `lab:/1.0/profiles/${lock.name}?project=prod`], ['query', `lab:/1.0/profiles/${lock.name}`]]);
  });

  it('set runs lxc profile set with every key; a profile that is gone is not-found', async () => {
    answer({ stdout: '' }, { stderr: 'Error: Profile not found\n', exitCode: 1 });
    await client().setProfileConfig(lock, { 'user.a': '1', 'user.b': '' });
    expect(argvs()).toEqual([['profile', 'set', `lab:${lock.name}`, 'user.a=1', 'user.b=', '--project', 'prod']]);
    const error = await client().setProfileConfig(lock, { 'user.a': '2' }).catch((caught: unknown) => caught);
    expect((error as LxdError).kind).toBe('not-found');
  });

  it('rename: true when renamed, false when the profile was gone (LXD 5.0 says "Query affected 0 rows")', async () => {
    answer({ stdout: '' }, { stderr: 'Error: Query affected 0 rows instead of 1\n', exitCode: 1 }, { stderr: 'Error: Profile not found\n', exitCode: 1 });
    expect(await client().renameProfile(lock, 'aside')).toBe(true);
    expect(await client().renameProfile(lock, 'aside')).toBe(false);
    expect(await client().renameProfile(lock, 'aside')).toBe(false);
    expect(argvs()[0]).toEqual(['profile', 'rename', `lab:${lock.name}`, 'aside', '--project', 'prod']);
  });

  it('rename failing otherwise is an error', async () => {
    answer({ stderr: 'Error: Name "aside" already in use\n', exitCode: 1 });
    await expect(client().renameProfile(lock, 'aside')).rejects.toThrow('already in use');
  });

  it('delete of a profile that is gone is no error; other failures are', async () => {
    answer({ stdout: '' }, { stderr: 'Error: Profile not found\n', exitCode: 1 }, { stderr: 'Error: Profile is currently in use\n', exitCode: 1 });
    await client().deleteProfile(lock);
    await client().deleteProfile(lock);
    await expect(client().deleteProfile(lock)).rejects.toThrow('in use');
    expect(argvs()[0]).toEqual(['profile', 'delete', `lab:${lock.name}`, '--project', 'prod']);
  });
});
