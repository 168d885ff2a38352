import { describe, expect, it } from 'vitest';
import { selectInstances, type SelectionRequest } from '../../../src/fleet/selection.js';
import { LxdError, UsageError } from '../../../src/errors.js';
import type { ListedInstance } from '../../../src/lxd/lxd.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

const listed = (name: string, partial: Partial<ListedInstance> = {}): ListedInstance => ({ ...runningContainer({ name }), config: {}, ...partial });
const request = (partial: Partial<SelectionRequest>): SelectionRequest => ({ names: [], all: [], exclude: [], where: [], project: null, ...partial });

describe('choosing the fleet', () => {
  it('keeps the order given with groups expanded in place, each instance once, one listing per remote', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('db1'), listed('web1', { location: 'm1' }), listed('web2', { location: 'm2' })], (args) => args[0] === 'local' && args[1] === 'default')
      .expect('listInstances', () => [listed('db1')], (args) => args[0] === 'backup' && args[1] === 'default');
    const chosen = await selectInstances(lxd, request({ names: ['web2', '@web', 'backup:db1', 'local:db1'] }), { web: ['web1', 'web2'] });
    expect(chosen.targets.map((t) => [t.label, t.member])).toEqual([['web2', 'm2'], ['web1', 'm1'], ['backup:db1', null], ['local:db1', null]]);
    expect(chosen.notStarted).toEqual([]);
    lxd.assertDone();
  });

  it('reports missing, stopped and ephemeral named instances as not started, and goes on with the others', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('web1'), listed('web2', { status: 'Stopped', location: 'm2' }), listed('tmp1', { ephemeral: true })]);
    const chosen = await selectInstances(lxd, request({ names: ['web1', 'web2', 'tmp1', 'gone'] }), {});
    expect(chosen.targets.map((t) => [t.label, t.ref])).toEqual([['web1', { remote: 'local', project: 'default', name: 'web1' }]]);
    expect(chosen.notStarted.map((r) => [r.instance, r.outcome, r.error?.message])).toEqual([
      ['web2', 'not-started', 'it is Stopped'],
      ['tmp1', 'not-started', expect.stringContaining('ephemeral')],
      ['gone', 'not-started', 'no such instance'],
    ]);
    expect(chosen.notStarted.map((r) => r.member)).toEqual(['m2', null, null]);
  });

  it('--all takes the running ones by name, after those named; --exclude and --where narrow it', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('b', { config: { 'user.role': 'web' } }), listed('c', { config: { 'user.role': 'web' }, status: 'Stopped' }), listed('d', { config: { 'user.role': 'db' } }), listed('e', { config: { 'user.role': 'web' } }), listed('f', { config: { 'user.role': 'web' } })], (args) => args[0] === 'backup' && args[1] === 'prod');
    const chosen = await selectInstances(lxd, request({ names: ['backup:f'], all: ['backup'], exclude: ['backup:e'], where: ['user.role=web'], project: 'prod' }), {});
    expect(chosen.targets.map((t) => [t.label, t.ref.project])).toEqual([['backup:f', 'prod'], ['backup:b', 'prod']]);
    expect(chosen.notStarted).toEqual([]);
    lxd.assertDone();
  });

  it('--all for several remotes: each listed once, named as typed (the default remote without a prefix)', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('web1'), listed('web2', { status: 'Stopped' })], (args) => args[0] === 'local')
      .expect('listInstances', () => [listed('web1')], (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ all: [null, 'backup', null] }), {});
    expect(chosen.targets.map((t) => [t.label, t.ref.remote])).toEqual([['web1', 'local'], ['backup:web1', 'backup']]);
    expect(chosen.notStarted).toEqual([]);
    lxd.assertDone();
  });

  it('a remote that cannot be reached: its instances (and its --all) are not started, the others go on', async () => {
    const down = new LxdError('lxd is not reachable: Get "https://127.0.0.1:8444/1.0": dial tcp 127.0.0.1:8444: connect: connection refused', 'unreachable', ['lxc', 'query', 'backup:/1.0']);
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('web1')], (args) => args[0] === 'local')
      .expect('listInstances', () => Promise.reject(down), (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ names: ['web1', 'backup:db1', 'backup:db2', 'backup:db1'], all: ['backup'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['web1']);
    expect(chosen.notStarted.map((r) => [r.instance, r.outcome, r.error?.step, r.error?.message])).toEqual([
      ['backup:db1', 'not-started', 'selection', down.message],
      ['backup:db2', 'not-started', 'selection', down.message],
      ['backup:', 'not-started', 'selection', down.message],
    ]);
    lxd.assertDone();
  });

  it('a remote whose client configuration fails to resolve is not started; a bug is still thrown', async () => {
    const lxd = new FakeLxd();
    lxd.resolveRef = async (ref) => {
      if (ref.remote === 'gone') throw new LxdError('Remote gone doesn\'t exist', 'unreachable', ['lxc']);
      if (ref.remote === 'bug') throw new TypeError('a bug');
      return { ...ref, remote: ref.remote ?? 'local', project: 'default' };
    };
    lxd.expect('listInstances', () => [listed('web1')]);
    const chosen = await selectInstances(lxd, request({ names: ['gone:db1', 'web1'], all: ['gone'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['web1']);
    expect(chosen.notStarted.map((r) => r.instance)).toEqual(['gone:db1', 'gone:']);
    // The default remote itself unreachable: one entry for its --all.
    lxd.expect('listInstances', () => Promise.reject(new LxdError('lxd is not reachable', 'unreachable', ['lxc'])));
    expect((await selectInstances(lxd, request({ all: [null] }), {})).notStarted.map((r) => [r.instance, r.error?.message])).toEqual([['--all', 'lxd is not reachable']]);
    await expect(selectInstances(lxd, request({ names: ['bug:db1'] }), {})).rejects.toThrow('a bug');
    // An exclusion that cannot be resolved ends the run before anything starts: it is never dropped.
    await expect(selectInstances(lxd, request({ names: ['web1'], exclude: ['gone:db2'] }), {})).rejects.toThrow("Remote gone doesn't exist");
  });

  it('--exclude without a remote is taken on the remote of the --all it narrows: --all backup: --exclude db9 leaves backup:db9 out', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('db8'), listed('db9')], (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ all: ['backup'], exclude: ['db9'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['backup:db8']);
    lxd.assertDone();
  });

  it('--exclude names an instance as the selection does: a bare name is the default remote\'s for a named instance, a remote names its own', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('web1'), listed('web2')], (args) => args[0] === 'local')
      .expect('listInstances', () => [listed('web1')], (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ names: ['web1', 'web2', 'backup:web1'], exclude: ['web1', 'backup:web1'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['web2']);
    lxd.assertDone();
  });

  it('--exclude with a remote leaves the same name on the other --all remotes in: --all local: --all backup: --exclude backup:db9', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('db9')], (args) => args[0] === 'local')
      .expect('listInstances', () => [listed('db8'), listed('db9')], (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ all: ['local', 'backup'], exclude: ['backup:db9'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['local:db9', 'backup:db8']);
    lxd.assertDone();
  });

  it('an --exclude that matches no instance of the selection is bad input, not silence', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('db8')], (args) => args[0] === 'backup');
    await expect(selectInstances(lxd, request({ all: ['backup'], exclude: ['db9'] }), {})).rejects.toThrow(UsageError);
    const named = new FakeLxd().expect('listInstances', () => [listed('web1')], (args) => args[0] === 'local');
    await expect(selectInstances(named, request({ names: ['web1'], exclude: ['backup:web1'] }), {})).rejects.toThrow('--exclude "backup:web1": matches no instance of the selection');
  });

  it('an --exclude on a remote that could not be listed is not judged: that remote\'s instances are not started anyway', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => Promise.reject(new LxdError('lxd is not reachable', 'unreachable', ['lxc'])), (args) => args[0] === 'backup');
    const chosen = await selectInstances(lxd, request({ all: ['backup'], exclude: ['db9'] }), {});
    expect(chosen.notStarted.map((r) => r.instance)).toEqual(['backup:']);
  });

  it('refuses an unknown group and a --where without =', async () => {
    await expect(selectInstances(new FakeLxd(), request({ names: ['@nope'] }), {})).rejects.toThrow('group "@nope": not defined');
    await expect(selectInstances(new FakeLxd(), request({ names: ['web1'], where: ['user.role'] }), {})).rejects.toThrow('expected KEY=VALUE');
    await expect(selectInstances(new FakeLxd(), request({ names: ['web1'], where: ['=web'] }), {})).rejects.toThrow('--where "=web": expected KEY=VALUE');
  });
});
