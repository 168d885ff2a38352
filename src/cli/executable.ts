// The start of the single executable (scripts/release): Node and the bundled CLI in one file, for
// the .deb's /usr/bin/safeupdate. The npm package starts from bin/safeupdate.js instead.
import { runAsProcess } from './process.js';

void runAsProcess(process.argv.slice(2));
