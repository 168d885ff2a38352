import { describe, expect, it } from 'vitest';
import { selectInstances, type SelectionRequest } from '../../../src/fleet/selection.js';
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
    expect(chosen.targets.map((t) => [t.label, t.member])).toEqual([['local:web2', 'm2'], ['local:web1', 'm1'], ['backup:db1', null], ['local:db1', null]]);
    expect(chosen.notStarted).toEqual([]);
    lxd.assertDone();
  });

  it('reports missing, stopped and ephemeral named instances as not started, and goes on with the others', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('web1'), listed('web2', { status: 'Stopped' }), listed('tmp1', { ephemeral: true })]);
    const chosen = await selectInstances(lxd, request({ names: ['web1', 'web2', 'tmp1', 'gone'] }), {});
    expect(chosen.targets.map((t) => t.label)).toEqual(['local:web1']);
    expect(chosen.notStarted.map((r) => [r.instance, r.outcome, r.error?.message])).toEqual([
      ['local:web2', 'not-started', 'local:web2: not started: it is Stopped; nothing changed'],
      ['local:tmp1', 'not-started', expect.stringContaining('ephemeral')],
      ['local:gone', 'not-started', 'local:gone: not started: no such instance; nothing changed'],
    ]);
  });

  it('--all takes the running ones by name, after those named; --exclude and --where narrow it', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('b', { config: { 'user.role': 'web' } }), listed('c', { config: { 'user.role': 'web' }, status: 'Stopped' }), listed('d', { config: { 'user.role': 'db' } }), listed('e', { config: { 'user.role': 'web' } }), listed('f', { config: { 'user.role': 'web' } })], (args) => args[0] === 'backup' && args[1] === 'prod');
    const chosen = await selectInstances(lxd, request({ names: ['backup:f'], all: ['backup'], exclude: ['backup:e'], where: ['user.role=web'], project: 'prod' }), {});
    expect(chosen.targets.map((t) => [t.label, t.ref.project])).toEqual([['backup:f', 'prod'], ['backup:b', 'prod']]);
    expect(chosen.notStarted).toEqual([]);
    lxd.assertDone();
  });

  it('refuses an unknown group and a --where without =', async () => {
    await expect(selectInstances(new FakeLxd(), request({ names: ['@nope'] }), {})).rejects.toThrow('group "@nope": not defined');
    await expect(selectInstances(new FakeLxd(), request({ names: ['web1'], where: ['user.role'] }), {})).rejects.toThrow('expected KEY=VALUE');
  });
});
