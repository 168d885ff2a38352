import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stateDir } from '../../../src/config/paths.js';

afterEach(() => vi.restoreAllMocks());

describe('the state directory', () => {
  it('is $SAFEUPDATE_STATE_DIR when set, before anything else', () => {
    expect(stateDir({ SAFEUPDATE_STATE_DIR: '/srv/su', XDG_STATE_HOME: '/x' })).toBe('/srv/su');
  });

  it('else $XDG_STATE_HOME/safeupdate', () => {
    expect(stateDir({ XDG_STATE_HOME: '/home/op/.state' })).toBe('/home/op/.state/safeupdate');
    expect(stateDir({ SAFEUPDATE_STATE_DIR: '', XDG_STATE_HOME: '/home/op/.state' })).toBe('/home/op/.state/safeupdate');
  });

  it('else /var/lib/safeupdate as root', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    expect(stateDir({})).toBe('/var/lib/safeupdate');
    expect(stateDir({ XDG_STATE_HOME: '' })).toBe('/var/lib/safeupdate');
  });

  it('else ~/.local/state/safeupdate for anyone else', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    expect(stateDir({})).toBe(join(homedir(), '.local', 'state', 'safeupdate'));
  });

  it('where there are no user ids (not POSIX): the home folder', () => {
    const getuid = process.getuid;
    Object.defineProperty(process, 'getuid', { value: undefined, configurable: true, writable: true });
    try {
      expect(stateDir({})).toBe(join(homedir(), '.local', 'state', 'safeupdate'));
    } finally {
      Object.defineProperty(process, 'getuid', { value: getuid, configurable: true, writable: true });
    }
  });
});
