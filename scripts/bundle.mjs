// The published CLI as one module graph of a few files (dist/bundle): Node resolves and reads
// some 90 files of the tool's own at every start otherwise, which is most of `--help`'s cost over
// bare Node. The libraries stay outside (node_modules), and what the tool imports lazily stays lazy
// (split into chunks loaded on first use). Run after tsc, from `npm run build`.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const outdir = new URL('../dist/bundle/', import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [new URL('../dist/cli/main.js', import.meta.url).pathname],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // commander is needed by every start: bundled too, as is string-width (small, for the tables). The others load on first use, from node_modules.
  external: Object.keys(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).dependencies).filter((name) => !['commander', 'execa', 'string-width'].includes(name)),
  // commander is CommonJS: its require() of Node's modules needs a require in an ES module.
  banner: { js: "import { createRequire as createBundleRequire } from 'node:module'; const require = createBundleRequire(import.meta.url);" },
  // Less to parse at every start; names are kept, so a stack trace still says which function.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
