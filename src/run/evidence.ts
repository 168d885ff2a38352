import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';

// Positional arguments are the units named by unit checks, which may be inactive rather than failed.
const SCRIPT = `
section() { printf '\\n===== %s =====\\n' "$*"; }
section systemctl --failed; systemctl --failed --no-pager 2>&1
units=$( (systemctl list-units --failed --plain --no-legend --no-pager 2>/dev/null | cut -d' ' -f1; for u in "$@"; do echo "$u"; done) | sort -u)
for u in $units; do
  section systemctl status "$u"; systemctl status --no-pager -l "$u" 2>&1
  section journalctl -u "$u"; journalctl -u "$u" -n 100 --no-pager 2>&1
done
section tail /var/log/dpkg.log; tail -n 50 /var/log/dpkg.log 2>&1
section tail /var/log/apt/term.log; tail -n 200 /var/log/apt/term.log 2>&1
exit 0
`;

/**
 * Saves what the restore is about to erase: failed units with their status and journal, and the
 * tails of dpkg's and apt's logs. Best effort and bounded: it must never hold up the rollback.
 */
export async function collectEvidence(lxd: Lxd, ref: InstanceRef, dir: string, units: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const result = await lxd.exec(ref, ['sh', '-c', SCRIPT, 'safeupdate-evidence', ...units], { timeoutMs: 30_000 });
  const file = join(dir, 'instance.txt');
  await writeFile(file, result.stdout + (result.stderr ? `\n===== stderr =====\n${result.stderr}` : ''));
  if (result.exitCode !== 0) throw new Error(`evidence incomplete (exit ${result.exitCode ?? result.signal}), kept what came in ${file}`);
  return file;
}
