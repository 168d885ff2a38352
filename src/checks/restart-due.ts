/**
 * Whether an instance is due a restart: what the next start will run differs from what runs now.
 * Two signs, both read in one `exec`:
 *
 * - `/run/reboot-required` (Debian and Ubuntu packages leave it, and list themselves in
 *   `/run/reboot-required.pkgs`, when they cannot take effect in place);
 * - processes that map files which are gone from disk (needrestart's method): a library or binary
 *   replaced under a running daemon shows as `… /usr/lib/libssl.so.3 (deleted)` in
 *   `/proc/PID/maps`. The daemon still runs the old code; its next start loads the new.
 *
 * The script needs only a POSIX shell and grep (busybox has both): no needrestart in the instance.
 */

/** Printed between the parts of the script's output. */
const MAPS_MARK = '--- deleted';
const COMM_MARK = '--- comm';

/**
 * One pass over every process's maps (one grep over `/proc/[0-9]*\/maps`, not one exec per process),
 * then each such process's name, read with the shell's own `read` (no process per pid).
 */
export const RESTART_DUE_SCRIPT = [
  'for f in /run/reboot-required /var/run/reboot-required; do',
  '  if [ -e "$f" ]; then echo reboot-required; cat "$f.pkgs" 2>/dev/null; break; fi',
  'done',
  `echo '${MAPS_MARK}'`,
  "hits=$(grep -H ' (deleted)$' /proc/[0-9]*/maps 2>/dev/null)",
  'printf "%s\\n" "$hits"',
  `echo '${COMM_MARK}'`,
  'self=$$ last=',
  'printf "%s\\n" "$hits" | while IFS= read -r line; do',
  '  pid=${line#/proc/}; pid=${pid%%/*}',
  '  case $pid in ""|*[!0-9]*) continue ;; esac',
  '  [ "$pid" = "$last" ] && continue; last=$pid',
  '  [ "$pid" = "$self" ] && continue',
  '  comm=; { read -r comm </proc/$pid/comm; } 2>/dev/null',
  '  printf "%s %s\\n" "$pid" "$comm"',
  'done',
  'exit 0',
].join('\n');

export interface StaleProcess {
  pid: number;
  /** Its name (`/proc/PID/comm`); empty when it ended before it was read. */
  command: string;
  /** The deleted files it maps, each once. */
  files: string[];
}

export interface RestartDue {
  /** `/run/reboot-required` exists. */
  rebootRequired: boolean;
  /** The packages `/run/reboot-required.pkgs` names, each once, in order. */
  packages: string[];
  /** Processes that still run files the disk no longer has. */
  processes: StaleProcess[];
}

/**
 * Deleted mappings that say nothing about an update: shared memory, memfd, device and DRM buffers,
 * and files in temporary or data folders (a rotated journal, a database's deleted temp file).
 * The rest — binaries, libraries, locale archives under /usr, /lib, /etc, /opt — are what a
 * package replaces.
 */
const NOT_FROM_PACKAGES = [
  /^\/(SYSV[0-9a-f]+|memfd:|\[|drm|i915|dmabuf|anon_hugepage|dev\/|proc\/|sys\/)/,
  /^\/(run|var\/run|tmp|var\/tmp|var\/log|var\/lib|var\/cache|var\/spool|home|root|srv)\//,
];

/** `/proc/PID/maps:ADDR PERMS OFFSET DEV INODE   PATH (deleted)` as grep -H prints it. */
const MAPS_LINE = /^\/proc\/(\d+)\/maps:\S+\s+\S+\s+\S+\s+\S+\s+\d+\s+(.*) \(deleted\)$/;

/** Reads the script's output; throws when it is not the script's (the exec ran something else). */
export function parseRestartDue(output: string): RestartDue {
  const lines = output.split('\n');
  const maps = lines.indexOf(MAPS_MARK);
  const comm = lines.indexOf(COMM_MARK);
  if (maps === -1 || comm < maps) throw new Error(`unexpected output from the restart check: ${JSON.stringify(output.slice(0, 200))}`);
  const head = lines.slice(0, maps);
  const rebootRequired = head[0] === 'reboot-required';
  const packages = unique(rebootRequired ? head.slice(1).map((line) => line.trim()).filter(Boolean) : []);

  const names = new Map<number, string>();
  for (const line of lines.slice(comm + 1)) {
    const match = /^(\d+) ?(.*)$/.exec(line);
    if (match) names.set(Number(match[1]), match[2]!.trim());
  }
  const files = new Map<number, string[]>();
  for (const line of lines.slice(maps + 1, comm)) {
    const match = MAPS_LINE.exec(line);
    if (!match) continue;
    const [pid, path] = [Number(match[1]), match[2]!];
    // Only processes the second part named: not the script's own shell, nor one gone meanwhile.
    if (!names.has(pid) || !path.startsWith('/') || NOT_FROM_PACKAGES.some((pattern) => pattern.test(path))) continue;
    const seen = files.get(pid) ?? [];
    if (!seen.includes(path)) seen.push(path);
    files.set(pid, seen);
  }
  const processes = [...files].sort(([a], [b]) => a - b).map(([pid, paths]) => ({ pid, command: names.get(pid) ?? '', files: paths }));
  return { rebootRequired, packages, processes };
}

export function isDue(due: RestartDue): boolean {
  return due.rebootRequired || due.processes.length > 0;
}

/** Why a restart is due, in one line; null when it is not. */
export function describeDue(due: RestartDue, listed = 3): string | null {
  const reasons: string[] = [];
  if (due.rebootRequired) reasons.push(`reboot-required${due.packages.length ? ` by ${listFirst(due.packages, listed)}` : ''}`);
  if (due.processes.length) {
    const processes = due.processes.map((process) => `${process.command || '?'} (${process.pid})`);
    const files = unique(due.processes.flatMap((process) => process.files));
    reasons.push(`${due.processes.length} process${due.processes.length > 1 ? 'es' : ''} still run${due.processes.length > 1 ? '' : 's'} deleted files: ${listFirst(processes, listed)} using ${listFirst(files, listed)}`);
  }
  return reasons.length ? reasons.join('; ') : null;
}

function listFirst(items: string[], count: number): string {
  return items.length > count ? `${items.slice(0, count).join(', ')} and ${items.length - count} more` : items.join(', ');
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
