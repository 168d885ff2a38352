// The single executable: Node 24 with the whole CLI inside (Node's single executable applications:
// a CommonJS bundle and its V8 code cache, injected into a copy of the node binary with postject).
// Its version comes from the build (esbuild's define), its hooks from share/safeupdate beside its
// bin/ (src/config/installation.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundledPackages } from '../notices.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The fuse in Node's binary that tells it a blob was injected (Node's SEA documentation). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Builds `output` from tsc's dist/ (npm run build first); returns the libraries it carries. */
export async function buildExecutable({ output, node, version, workDir }) {
  const main = join(workDir, 'safeupdate.cjs');
  const { metafile } = await build({
    entryPoints: [join(ROOT, 'dist/cli/executable.js')],
    outfile: main,
    bundle: true,
    // A single executable's main script is CommonJS, one file: lazy imports become lazy functions in it.
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    define: { SAFEUPDATE_EXECUTABLE: JSON.stringify({ version }) },
    // import.meta is only read where SAFEUPDATE_EXECUTABLE is absent (src/config/installation.ts).
    logOverride: { 'empty-import-meta': 'silent' },
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  const blob = join(workDir, 'safeupdate.blob');
  const config = join(workDir, 'sea-config.json');
  // The code cache spares V8 compiling the bundle at every start. It is made by, and only valid for,
  // the very Node that runs it: the blob is prepared by that node binary, not the build's Node.
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2));
  execFileSync(node, ['--experimental-sea-config', config], { stdio: 'pipe' });
  copyFileSync(node, output);
  chmodSync(output, 0o755);
  // Node's release build keeps its symbols and some debug information (18 MB of its 127), and the
  // compiler's .comment: not needed here.
  execFileSync('strip', ['--strip-all', '--remove-section=.comment', output]);
  // postject warns of each of Node's many ELF notes it cannot name: its output is shown on failure only.
  execFileSync(join(ROOT, 'node_modules/.bin/postject'), [output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'pipe' });
  return bundledPackages(metafile);
}
