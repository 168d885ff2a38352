/**
 * dpkg's locks and who holds them. apt and dpkg lock with fcntl (POSIX) locks, which /proc/locks
 * lists with the holder's pid and the file's device and inode; inside a container the kernel shows
 * only the container's own processes, with their pids there. Read-only: trying to take the lock
 * would need perl or python, and a lock taken by us, however briefly, could make a starting apt
 * fail. lslocks would do the same, but /proc/locks needs nothing installed.
 */
export const DPKG_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock'] as const;

export interface LockHolder {
  lock: string;
  /** -1 for an open-file-description lock, which belongs to no process. */
  pid: number;
  /** The holder's command line; empty when it could not be read (it ended meanwhile). */
  command: string;
}

export type LockProbe =
  | { state: 'free' }
  | { state: 'held'; holders: LockHolder[] }
  | { state: 'no-dpkg' }
  | { state: 'unknown'; reason: string };

/** One look: `held LOCK PID COMMAND…` per holder, else `free`, `no-dpkg` or `unknown REASON`. */
export const DPKG_LOCK_SCRIPT = [
  `[ -d /var/lib/dpkg ] || { echo no-dpkg; exit 0; }`,
  `[ -r /proc/locks ] || { echo 'unknown /proc/locks cannot be read'; exit 0; }`,
  `found=`,
  `for f in ${DPKG_LOCKS.join(' ')}; do`,
  `  [ -e "$f" ] || continue`,
  // The device as /proc/locks prints it (major:minor in hex), from stat's number (Linux's encoding).
  `  set -- $(stat -L -c '%d %i' "$f") || continue`,
  `  key=$(printf '%02x:%02x:%s' $(( ($1 >> 8) & 0xfff )) $(( ($1 & 0xff) | (($1 >> 12) & 0xfff00) )) "$2")`,
  `  for pid in $(awk -v key="$key" '($2 == "POSIX" || $2 == "OFDLCK") && $6 == key { print $5 }' /proc/locks); do`,
  `    cmd=$(tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)`,
  `    echo "held $f $pid \${cmd% }"`,
  `    found=1`,
  `  done`,
  `done`,
  `[ -n "$found" ] || echo free`,
].join('\n');

export function parseLockProbe(output: string): LockProbe {
  const lines = output.split('\n').map((line) => line.trim()).filter(Boolean);
  if (lines.includes('no-dpkg')) return { state: 'no-dpkg' };
  const unknown = lines.find((line) => line.startsWith('unknown'));
  if (unknown) return { state: 'unknown', reason: unknown.slice('unknown'.length).trim() };
  const holders = lines.flatMap((line) => {
    const held = /^held (\S+) (-?\d+) ?(.*)$/.exec(line);
    return held ? [{ lock: held[1]!, pid: Number(held[2]), command: held[3]! }] : [];
  });
  if (holders.length) return { state: 'held', holders };
  if (lines.includes('free')) return { state: 'free' };
  return { state: 'unknown', reason: `unexpected answer: ${lines.join(' ') || '(nothing)'}` };
}

export function describeHolder(holder: LockHolder): string {
  if (holder.pid === -1) return `an open file description (no process) on ${holder.lock}`;
  return `process ${holder.pid}${holder.command ? ` (${holder.command})` : ''} on ${holder.lock}`;
}

export interface LockWait {
  /** free: go on; held: still held at the bound; no-dpkg, unknown: nothing to wait for, or no way to tell. */
  state: 'free' | 'held' | 'no-dpkg' | 'unknown' | 'interrupted';
  waitedMs: number;
  /** The holders at the last look that found the lock held; empty when it was free at once. */
  holders: LockHolder[];
  reason?: string;
}

/** How often the lock is looked at while held: an apt run waiting on it looks as often. */
export const LOCK_POLL_MS = 1_000;

/** The part of the run's clock (Clock in checks/probe.ts) the wait needs; packages/ sits below checks/. */
export interface LockClock {
  monotonic(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Looks until the locks are free or `boundMs` has passed (monotonic clock); `onHeld` hears of each
 * look that found them held. A look that fails ends the wait as `unknown`: apt's own timeout still
 * applies then.
 */
export async function waitForDpkgLock(
  look: () => Promise<LockProbe>,
  clock: LockClock,
  boundMs: number,
  { signal, onHeld }: { signal?: AbortSignal; onHeld?: (holders: LockHolder[], waitedMs: number) => void } = {},
): Promise<LockWait> {
  const started = clock.monotonic();
  let holders: LockHolder[] = [];
  for (;;) {
    const probe = await look();
    const waitedMs = clock.monotonic() - started;
    if (probe.state === 'free' || probe.state === 'no-dpkg') return { state: probe.state, waitedMs, holders };
    if (probe.state === 'unknown') return { state: 'unknown', waitedMs, holders, reason: probe.reason };
    holders = probe.holders;
    if (waitedMs >= boundMs) return { state: 'held', waitedMs, holders };
    onHeld?.(holders, waitedMs);
    if (signal?.aborted) return { state: 'interrupted', waitedMs, holders };
    await clock.sleep(Math.min(LOCK_POLL_MS, boundMs - waitedMs), signal);
    if (signal?.aborted) return { state: 'interrupted', waitedMs: clock.monotonic() - started, holders };
  }
}
