// Where this safeupdate's own files are: its version and the templates it installs (hooks/). It
// runs three ways: from the repository (src/, under vitest), from the npm package (dist/bundle/),
// and as the single executable of the .deb (/usr/bin/safeupdate, its files in /usr/share/safeupdate).
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shellQuote } from '../shell.js';

/**
 * Set by the release build of the single executable (scripts/release, esbuild's `define`), absent
 * everywhere else. That build is CommonJS: no import.meta, and no package.json beside it.
 */
declare const SAFEUPDATE_EXECUTABLE: { version: string } | undefined;

const executable = typeof SAFEUPDATE_EXECUTABLE === 'undefined' ? null : SAFEUPDATE_EXECUTABLE;

/**
 * The folder that holds hooks/: the package's root, two folders up from src/config/ and from
 * dist/bundle/ alike; for the executable, share/safeupdate beside its bin/ (/usr/bin →
 * /usr/share/safeupdate), so that a copy under /usr/local or /opt finds its own files.
 */
export const SHARE_DIR = executable ? resolve(dirname(process.execPath), '../share/safeupdate') : fileURLToPath(new URL('../../', import.meta.url));

/** A file shipped with safeupdate, by its path in the repository (`hooks/apt/guard`). */
export function shippedFile(path: string): string {
  return join(SHARE_DIR, path);
}

export const version: string = executable ? executable.version : (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** How systemd starts this very safeupdate: node and the script it runs, or the executable alone; absolute. */
export function selfCommand(): string {
  if (executable) return shellQuote(process.execPath);
  const script = process.argv[1] ? realpathSync(process.argv[1]) : '';
  return [process.execPath, script].filter(Boolean).map(shellQuote).join(' ');
}
