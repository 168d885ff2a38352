// The start of the single executable (scripts/release): Node and the bundled CLI in one file, for
// the .deb's /usr/bin/safeupdate. The npm package starts from bin/safeupdate.js instead.
import { version } from '../config/installation.js';

// `--version` alone needs nothing of the tool, as in bin/safeupdate.js: the CLI's modules are only
// evaluated when the dynamic import below runs (the bundle keeps them as lazy initialisers).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${version}\n`);
} else {
  void import('./process.js').then(({ runAsProcess }) => runAsProcess(args));
}
