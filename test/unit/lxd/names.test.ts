import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { ownSnapshotName, parseInstanceRef, validateSnapshotName } from '../../../src/lxd/names.js';

describe('parseInstanceRef', () => {
  it('reads [remote:]name and the project', () => {
    expect(parseInstanceRef('web1')).toEqual({ remote: null, name: 'web1', project: null });
    expect(parseInstanceRef('backup:db-1', 'prod')).toEqual({ remote: 'backup', name: 'db-1', project: 'prod' });
  });

  it.each(['', 'a b', 'web/1', '..', '1web', '-web', 'web-', 'wéb', 'a'.repeat(64), 'web1/snap', ':web1', 'back up:web1', 'web_1'])(
    'refuses "%s" as LXD would',
    (name) => {
      expect(() => parseInstanceRef(name)).toThrow(UsageError);
    },
  );

  it('accepts 63 characters', () => {
    expect(parseInstanceRef(`a${'b'.repeat(62)}`).name).toHaveLength(63);
  });

  it('refuses a bad project', () => {
    expect(() => parseInstanceRef('web1', 'a b')).toThrow('--project "a b"');
  });
});

describe('snapshot names', () => {
  it.each(['', 'a/b', 'a b', '.', '..', 'x\ty', 'a'.repeat(64)])('refuses "%s"', (name) => {
    expect(() => validateSnapshotName(name)).toThrow(UsageError);
  });

  it('always carry the safeupdate- prefix', () => {
    expect(ownSnapshotName('before-php8')).toBe('safeupdate-before-php8');
    expect(ownSnapshotName('safeupdate-before-php8')).toBe('safeupdate-before-php8');
    expect(() => ownSnapshotName('x/y')).toThrow('snapshot name "x/y"');
  });
});
