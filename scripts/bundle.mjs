// The published CLI as one module graph of a few files (dist/bundle), its libraries included: the
// npm package has no runtime dependencies, and Node resolves and reads a few files at each start
// instead of some 90 of the tool's own and hundreds of its libraries'. What the tool imports lazily
// stays lazy (split into chunks loaded on first use). Run after tsc, from `npm run build`.
import { rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { build } from 'esbuild';
import { bundledPackages, noticesText } from './notices.mjs';

const outdir = new URL('../dist/bundle/', import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({
  // main: the CLI as a function (tests and tools import it); process: bin/safeupdate.js's start.
  entryPoints: ['main', 'process'].map((name) => new URL(`../dist/cli/${name}.js`, import.meta.url).pathname),
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // commander, enquirer, semver, xmlbuilder2 and yaml are CommonJS: their require() of Node's modules needs a require in an ES module.
  banner: { js: "import { createRequire as createBundleRequire } from 'node:module'; const require = createBundleRequire(import.meta.url);" },
  // ws would load the native bufferutil and utf-8-validate where installed (try/catch around a
  // require): never in a zero-dependency bundle. Node's own isUtf8 validates instead, and ws masks
  // in JavaScript (only the client's few bytes of stdin and control are masked).
  define: { 'process.env.WS_NO_BUFFER_UTIL': '"1"', 'process.env.WS_NO_UTF_8_VALIDATE': '"1"' },
  // Less to parse at every start; names are kept, so a stack trace still says which function.
  minifyWhitespace: true,
  minifySyntax: true,
  // The libraries' licence texts go to THIRD-PARTY-NOTICES.txt whole, not only their /*! comments.
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
// Zero runtime dependencies: whatever the bundle still imports from outside must be Node's own.
const outside = Object.values(metafile.outputs).flatMap((output) => output.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path));
if (outside.length > 0) throw new Error(`the bundle imports from outside itself: ${[...new Set(outside)].join(', ')}`);
writeFileSync(`${outdir}THIRD-PARTY-NOTICES.txt`, noticesText(bundledPackages(metafile)));
