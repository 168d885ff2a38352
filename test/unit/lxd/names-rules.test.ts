import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import {
  formatRef, formatRefWithProject, ownSnapshotName, parseInstanceRef, recoverCommand, SNAPSHOT_PREFIX, validateSnapshotName,
} from '../../../src/lxd/names.js';

// LXD's naming rules as safeupdate enforces them before anything reaches LXD, and the way it writes
// an instance back in commands a human is told to run.

function usageError(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('instance names', () => {
  it.each(['a', 'A', 'web1', 'Web-1', 'a-b-c', 'a1', `a${'b'.repeat(61)}c`, 'x9-0'])('accepts "%s"', (name) => {
    expect(parseInstanceRef(name)).toEqual({ remote: null, name, project: null });
  });

  it.each(['', '1', '-', 'a-', 'a_b', 'a.b', 'a b', ' a', 'a ', 'a\n', `a${'b'.repeat(63)}`, 'ä', 'web1\nweb2'])('refuses %j with the rules in the message', (name) => {
    expect(usageError(() => parseInstanceRef(name)).message).toBe(
      `instance "${name}": not a valid LXD instance name (1-63 ASCII letters, digits and hyphens, starting with a letter, not ending with a hyphen)`,
    );
  });
});

describe('remote names', () => {
  it.each(['local', 'backup', 'my.remote', 'my_remote', 'my-remote', '1st', 'A'])('accepts "%s:"', (remote) => {
    expect(parseInstanceRef(`${remote}:web1`)).toEqual({ remote, name: 'web1', project: null });
  });

  it.each(['', '-x', '.x', '_x', 'a b', 'a/b', 'a\nb', 'ä'])('refuses %j, naming it', (remote) => {
    expect(usageError(() => parseInstanceRef(`${remote}:web1`)).message).toBe(`instance "${remote}:web1": "${remote}" is not a valid remote name`);
  });

  it('takes only the first colon as the remote\'s end: the rest is the name, which cannot hold one', () => {
    expect(usageError(() => parseInstanceRef('a:b:c')).message).toContain('instance "a:b:c": not a valid LXD instance name');
  });
});

describe('project names', () => {
  it.each(['default', 'prod', 'team_a', 'team.a', 'team-a', '1', `p${'x'.repeat(62)}`])('accepts "%s"', (project) => {
    expect(parseInstanceRef('web1', project)).toEqual({ remote: null, name: 'web1', project });
  });

  it.each(['', '-p', '.p', '_p', 'a b', 'a/b', `p${'x'.repeat(63)}`, 'a\nb'])('refuses %j', (project) => {
    expect(usageError(() => parseInstanceRef('web1', project)).message).toBe(`--project "${project}": not a valid LXD project name`);
  });
});

describe('snapshot names', () => {
  it.each(['s', '...', 'a.b', 'before-php8', 'ünïcode', 'a:b', 'x'.repeat(63)])('accepts "%s"', (name) => {
    expect(validateSnapshotName(name)).toBe(name);
  });

  it.each(['', '.', '..', 'a/b', '/', 'a b', 'a\tb', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\u0085b', 'x'.repeat(64)])('refuses %j with the rules in the message', (name) => {
    expect(usageError(() => validateSnapshotName(name)).message).toBe(
      `snapshot name "${name}": not valid (1-63 characters, no "/", spaces or control characters, not "." or "..")`,
    );
  });

  it('a name of its own gets the prefix once; the prefixed name must still fit', () => {
    expect(SNAPSHOT_PREFIX).toBe('safeupdate-');
    expect(ownSnapshotName('x'.repeat(52))).toBe(`safeupdate-${'x'.repeat(52)}`);
    const long = 'x'.repeat(53);
    expect(usageError(() => ownSnapshotName(long)).message).toBe(
      `snapshot name "safeupdate-${long}": not valid (1-63 characters, no "/", spaces or control characters, not "." or "..")`,
    );
    // The name as given is checked first, so the message names what the operator typed.
    expect(usageError(() => ownSnapshotName('a b')).message).toContain('snapshot name "a b"');
  });
});

describe('writing an instance back', () => {
  it('as an argument, with its remote where it has one', () => {
    expect(formatRef({ remote: null, name: 'web1', project: 'prod' })).toBe('web1');
    expect(formatRef({ remote: 'backup', name: 'web1', project: null })).toBe('backup:web1');
  });

  it('with --project where it has one', () => {
    expect(formatRefWithProject({ remote: null, name: 'web1', project: null })).toBe('web1');
    expect(formatRefWithProject({ remote: 'backup', name: 'web1', project: 'prod' })).toBe('backup:web1 --project prod');
  });

  it('as the command that recovers it', () => {
    expect(recoverCommand({ remote: 'local', name: 'web1', project: 'default' })).toBe('safeupdate recover local:web1 --project default');
    expect(recoverCommand({ remote: null, name: 'web1', project: null })).toBe('safeupdate recover web1');
  });
});
