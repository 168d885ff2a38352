/**
 * Where safeupdate's apt hooks live inside an instance. Install writes only these paths, uninstall
 * removes only these: nothing else in the instance is ever touched.
 */

export const HOOK_MODES = ['guard', 'snapshot'] as const;
export type HookMode = (typeof HOOK_MODES)[number];

export const LIB_DIR = '/usr/local/lib/safeupdate';
export const CONF_DIR = '/etc/safeupdate';
export const TLS_DIR = '/etc/safeupdate/lxd';
export const STATE_DIR = '/var/lib/safeupdate-hook';
export const FLAG_DIR = '/run/safeupdate';

export const PATHS = {
  lib: `${LIB_DIR}/hook-lib.sh`,
  allowOnce: `${LIB_DIR}/allow-once`,
  guard: `${LIB_DIR}/guard`,
  preSnapshot: `${LIB_DIR}/pre-snapshot`,
  postCheck: `${LIB_DIR}/post-check`,
  guardAptConf: '/etc/apt/apt.conf.d/80safeupdate-guard',
  snapshotAptConf: '/etc/apt/apt.conf.d/80safeupdate-snapshot',
  hookConf: `${CONF_DIR}/hook.conf`,
  checks: `${CONF_DIR}/checks`,
  clientCert: `${TLS_DIR}/client.crt`,
  clientKey: `${TLS_DIR}/client.key`,
  serverCert: `${TLS_DIR}/server.crt`,
} as const;

/** What the hooks write as they run; removed by uninstall, never written by install. */
export const RUNTIME_PATHS = [
  `${STATE_DIR}/last-run`,
  `${STATE_DIR}/last-run.new`,
  `${STATE_DIR}/runs.log`,
  `${STATE_DIR}/runs.log.new`,
  `${STATE_DIR}/baseline-failed`,
  `${STATE_DIR}/baseline-failed.new`,
  '/var/log/safeupdate-guard.log',
  `${FLAG_DIR}/allow-once`,
] as const;

export const LAST_RUN = `${STATE_DIR}/last-run`;
/** Every bypass, refusal and run the hooks let through, one line each (also in syslog). */
export const GUARD_LOG = '/var/log/safeupdate-guard.log';

/** Folders install makes (with their modes when it makes them); uninstall removes them when empty, deepest first. */
export const DIRS: ReadonlyArray<{ path: string; mode: number }> = [
  { path: TLS_DIR, mode: 0o700 },
  { path: CONF_DIR, mode: 0o755 },
  { path: LIB_DIR, mode: 0o755 },
  { path: STATE_DIR, mode: 0o755 },
  { path: FLAG_DIR, mode: 0o755 },
];

/** A file install writes: where, with which mode, and its template in hooks/apt (or generated). */
export interface HookFileSpec {
  path: string;
  mode: number;
  template: string | null;
}

const SCRIPT = 0o755;
const READABLE = 0o644;
/** The key and certificate are root's alone: whoever holds them acts for the instance's project. */
export const SECRET = 0o600;

/** Each mode's files, in the order install writes them: the apt.conf.d snippet, which switches the hook on, last. */
export const MODE_FILES: Record<HookMode, HookFileSpec[]> = {
  guard: [
    { path: PATHS.lib, mode: READABLE, template: 'hook-lib.sh' },
    { path: PATHS.allowOnce, mode: SCRIPT, template: 'allow-once' },
    { path: PATHS.guard, mode: SCRIPT, template: 'guard' },
    { path: PATHS.hookConf, mode: READABLE, template: null },
    { path: PATHS.guardAptConf, mode: READABLE, template: '80safeupdate-guard' },
  ],
  snapshot: [
    { path: PATHS.lib, mode: READABLE, template: 'hook-lib.sh' },
    { path: PATHS.allowOnce, mode: SCRIPT, template: 'allow-once' },
    { path: PATHS.preSnapshot, mode: SCRIPT, template: 'pre-snapshot' },
    { path: PATHS.postCheck, mode: SCRIPT, template: 'post-check' },
    { path: PATHS.hookConf, mode: READABLE, template: null },
    { path: PATHS.checks, mode: READABLE, template: null },
    { path: PATHS.snapshotAptConf, mode: READABLE, template: '80safeupdate-snapshot' },
  ],
};

/** The TLS files of snapshot mode: not versioned, not compared line by line. */
export const TLS_FILES = [PATHS.clientKey, PATHS.clientCert, PATHS.serverCert] as const;

/** Every path install may have written, for uninstall and status. */
export const ALL_PATHS: readonly string[] = [...new Set([...Object.values(PATHS), ...RUNTIME_PATHS])];

/** The proxy device that makes LXD's API reachable on the instance's loopback (snapshot mode). */
export const DEVICE_NAME = 'safeupdate-lxd';
export const DEFAULT_PORT = 18443;

/** apt's own schedules in the instance, which `--disable-timers` turns off. */
export const APT_UNITS = ['apt-daily.timer', 'apt-daily-upgrade.timer', 'unattended-upgrades.service'] as const;

/**
 * The trust entry's name. Instance names have no dots, so the name belongs to one instance of one
 * project: `safeupdate-hook.web1.prod`.
 */
export function trustName(instance: string, project: string): string {
  return `safeupdate-hook.${instance}.${project}`;
}
