import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARE_DIR, selfCommand, shippedFile, version } from '../../../src/config/installation.js';

const ROOT = join(import.meta.dirname, '../../..');

// From the repository (and the npm package, whose dist/bundle/ is as deep as src/config/), the files
// safeupdate ships are the checkout's; the single executable's are tested end to end (executable.test.ts).
describe('where safeupdate finds its own files', () => {
  it('is the package root: hooks/ and the version of package.json', () => {
    expect(join(SHARE_DIR)).toBe(join(ROOT, '/'));
    expect(existsSync(shippedFile('hooks/apt/guard'))).toBe(true);
    expect(version).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('starts itself again as node and its script, both quoted', () => {
    expect(selfCommand()).toMatch(new RegExp(`^'${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'( '.+')?$`));
  });
});
