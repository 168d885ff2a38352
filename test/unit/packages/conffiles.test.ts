import { describe, expect, it } from 'vitest';
import { decideConffiles, parseConffiles, type ConffileState } from '../../../src/packages/conffiles.js';

const [OLD, NEW, MINE, OTHER] = ['0'.repeat(32), '1'.repeat(32), 'a'.repeat(32), 'b'.repeat(32)];

/** The script's output: packages with their conffiles' recorded hashes, then md5sum's lines. */
function output(recorded: Array<[string, string, string]>, disk: Array<[string, string]>): string {
  const byPackage = new Map<string, string[]>();
  for (const [pkg, path, hash] of recorded) byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), ` ${path} ${hash}`]);
  const listed = [...byPackage].flatMap(([pkg, lines]) => [pkg, '', ...lines]).join('\n');
  return `${listed}\n--- on disk\n${disk.map(([path, hash]) => `${hash}  ${path}`).join('\n')}\n`;
}

const state = (recorded: Array<[string, string, string]>, disk: Array<[string, string]>): ConffileState => parseConffiles(output(recorded, disk))!;

describe('conffiles', () => {
  it('parses packages, recorded hashes (not dpkg\'s newconffile mark, with flags after the hash) and the hashes on disk', () => {
    const parsed = parseConffiles(`adduser\n /etc/adduser.conf ${OLD}\nbase-passwd\n\ndemo\n /etc/demo.conf ${NEW} obsolete\n /etc/new.conf newconffile\n--- on disk\n${MINE}  /etc/adduser.conf\n\\${OTHER}  /etc/odd\\nname\n`)!;
    expect([...parsed.recorded]).toEqual([['/etc/adduser.conf', { hash: OLD, package: 'adduser' }], ['/etc/demo.conf', { hash: NEW, package: 'demo' }]]);
    expect([...parsed.disk]).toEqual([['/etc/adduser.conf', MINE]]);
  });

  it('an instance without dpkg has no conffiles to read', () => {
    expect(parseConffiles('no-dpkg\n')).toBeNull();
  });

  it('a modified conffile the package changed and the update left as it was is kept, with the package\'s version beside it', () => {
    const before = state([['demo', '/etc/demo.conf', OLD]], [['/etc/demo.conf', MINE]]);
    const after = state([['demo', '/etc/demo.conf', NEW]], [['/etc/demo.conf', MINE], ['/etc/demo.conf.dpkg-dist', NEW]]);
    expect(decideConffiles(before, after)).toEqual([{ path: '/etc/demo.conf', package: 'demo', outcome: 'kept', sideFile: '/etc/demo.conf.dpkg-dist' }]);
  });

  it('replaced when the package\'s version is on disk after it, with the local one beside it as .dpkg-old', () => {
    const before = state([['demo', '/etc/demo.conf', OLD]], [['/etc/demo.conf', MINE]]);
    const after = state([['demo', '/etc/demo.conf', NEW]], [['/etc/demo.conf', NEW], ['/etc/demo.conf.dpkg-old', MINE]]);
    expect(decideConffiles(before, after)).toEqual([{ path: '/etc/demo.conf', package: 'demo', outcome: 'replaced', sideFile: '/etc/demo.conf.dpkg-old' }]);
  });

  it('a .dpkg-dist left from an earlier upgrade is not named as this one\'s; a file edited at the prompt is neither kept nor replaced', () => {
    const before = state([['demo', '/etc/a', OLD], ['demo', '/etc/b', OLD]], [['/etc/a', MINE], ['/etc/b', MINE]]);
    const after = state([['demo', '/etc/a', NEW], ['demo', '/etc/b', NEW]], [['/etc/a', MINE], ['/etc/a.dpkg-dist', OTHER], ['/etc/b', OTHER]]);
    expect(decideConffiles(before, after)).toEqual([
      { path: '/etc/a', package: 'demo', outcome: 'kept', sideFile: null },
      { path: '/etc/b', package: 'demo', outcome: 'other', sideFile: null },
    ]);
  });

  it('a deleted conffile that stays deleted is kept', () => {
    const before = state([['demo', '/etc/demo.conf', OLD]], []);
    const after = state([['demo', '/etc/demo.conf', NEW]], []);
    expect(decideConffiles(before, after)).toMatchObject([{ path: '/etc/demo.conf', outcome: 'kept' }]);
  });

  it('names nothing when no modified conffile was changed by its package: unmodified ones updated, modified ones the package left alone, new ones', () => {
    const before = state([['demo', '/etc/plain', OLD], ['demo', '/etc/mine', OLD]], [['/etc/plain', OLD], ['/etc/mine', MINE]]);
    const after = state([['demo', '/etc/plain', NEW], ['demo', '/etc/mine', OLD], ['demo', '/etc/added', NEW]], [['/etc/plain', NEW], ['/etc/mine', MINE], ['/etc/added', NEW]]);
    expect(decideConffiles(before, after)).toEqual([]);
  });
});
