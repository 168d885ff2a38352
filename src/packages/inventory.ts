import { BUMPS, classifyBump, type Bump, type PackageManager } from './versions.js';

/** Installed packages by name (`name:arch` where dpkg needs the architecture to tell them apart). */
export interface Inventory {
  manager: PackageManager;
  packages: Map<string, string>;
}

export interface PackageChange {
  name: string;
  kind: 'added' | 'removed' | 'changed';
  from: string | null;
  to: string | null;
  /** How far a changed package moved; null for one added or removed. */
  bump: Bump | null;
}

/**
 * One script, one `exec`: the first package manager found answers with one line per installed
 * package, after a first line naming itself. The formats are explicit so no locale or terminal
 * width can change them.
 */
export const INVENTORY_SCRIPT = [
  'if command -v dpkg-query >/dev/null 2>&1; then echo dpkg; exec dpkg-query -W -f \'${binary:Package}\\t${Version}\\t${db:Status-Abbrev}\\n\'',
  "elif command -v rpm >/dev/null 2>&1; then echo rpm; exec rpm -qa --qf '%{NAME}.%{ARCH}\\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\\tii\\n'",
  "elif command -v apk >/dev/null 2>&1; then echo apk; exec apk info -v",
  'else echo unknown; fi',
].join('; ');

/** What the script printed, read; throws with a plain reason when it says nothing usable. */
export function parseInventory(output: string): Inventory {
  const [head = '', ...lines] = output.split('\n');
  const manager = head.trim();
  if (manager === 'unknown') throw new Error('unknown package manager: none of dpkg, rpm or apk is installed in the instance');
  if (manager !== 'dpkg' && manager !== 'rpm' && manager !== 'apk') throw new Error(`unexpected answer from the inventory: "${head.slice(0, 80)}"`);
  const packages = new Map<string, string>();
  for (const line of lines) {
    if (!line.trim()) continue;
    const entry = manager === 'apk' ? parseApkLine(line) : parseTabbedLine(line);
    if (entry) packages.set(entry.name, entry.version);
  }
  return { manager, packages };
}

function parseTabbedLine(line: string): { name: string; version: string } | null {
  const [name, version, status = ''] = line.split('\t');
  // Only what is installed counts: "ii", or installed with triggers pending ("iW", "it"); not "rc" leftovers.
  if (!name || !version || !/^.[iWt]/.test(status)) return null;
  return { name, version };
}

/** `musl-1.2.4-r2`: the version starts at the last hyphen before a digit that leaves `-rN` at the end. */
function parseApkLine(line: string): { name: string; version: string } | null {
  const match = /^(.+?)-(\d[^-]*-r\d+)$/.exec(line.trim());
  return match ? { name: match[1]!, version: match[2]! } : null;
}

/** What changed between two inventories, in name order. */
export function diffInventories(before: Inventory, after: Inventory): PackageChange[] {
  const names = [...new Set([...before.packages.keys(), ...after.packages.keys()])].sort();
  return names.flatMap((name): PackageChange[] => {
    const from = before.packages.get(name) ?? null;
    const to = after.packages.get(name) ?? null;
    if (from === to) return [];
    if (from === null) return [{ name, kind: 'added', from, to, bump: null }];
    if (to === null) return [{ name, kind: 'removed', from, to, bump: null }];
    return [{ name, kind: 'changed', from, to, bump: classifyBump(after.manager, from, to) }];
  });
}

export function countBumps(changes: PackageChange[]): Record<Bump, number> {
  const counts = Object.fromEntries(BUMPS.map((bump) => [bump, 0])) as Record<Bump, number>;
  for (const change of changes) if (change.bump) counts[change.bump] += 1;
  return counts;
}
