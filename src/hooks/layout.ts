/**
 * Where safeupdate's apt hooks live inside an instance. Install writes only these paths, uninstall
 * removes only these: nothing else in the instance is ever touched.
 */

export const HOOK_MODES = ['guard', 'snapshot'] as const;
export type HookMode = (typeof HOOK_MODES)[number];

export const LIB_DIR = '/usr/local/lib/safeupdate';
export const CONF_DIR = '/etc/safeupdate';
/** Where the certificate-based snapshot mode (before the broker) kept its LXD key: removed on sight. */
export const OLD_TLS_DIR = '/etc/safeupdate/lxd';
export const STATE_DIR = '/var/lib/safeupdate-hook';
export const FLAG_DIR = '/run/safeupdate';

export const PATHS = {
  lib: `${LIB_DIR}/hook-lib.sh`,
  allowOnce: `${LIB_DIR}/allow-once`,
  guard: `${LIB_DIR}/guard`,
  preSnapshot: `${LIB_DIR}/pre-snapshot`,
  postCheck: `${LIB_DIR}/post-check`,
  guardAptConf: '/etc/apt/apt.conf.d/05safeupdate-guard',
  snapshotAptConf: '/etc/apt/apt.conf.d/80safeupdate-snapshot',
  hookConf: `${CONF_DIR}/hook.conf`,
  checks: `${CONF_DIR}/checks`,
  brokerRequest: `${LIB_DIR}/broker-request`,
  /** The one-time token of the request under way: only root in this instance can write it (see broker/handle.ts). */
  requestToken: `${STATE_DIR}/request-token`,
} as const;

/** The old snapshot mode's key, certificate and LXD's certificate: found only to be removed (and the key never read). */
export const OLD_TLS_FILES = [`${OLD_TLS_DIR}/client.key`, `${OLD_TLS_DIR}/client.crt`, `${OLD_TLS_DIR}/server.crt`] as const;
export const OLD_CLIENT_CERT = `${OLD_TLS_DIR}/client.crt`;
export const OLD_CLIENT_KEY = `${OLD_TLS_DIR}/client.key`;

/** The guard's snippet before it moved ahead of debconf's: removed by install and uninstall. */
export const OLD_GUARD_APT_CONF = '/etc/apt/apt.conf.d/80safeupdate-guard';

/** What the hooks write as they run; removed by uninstall, never written by install. */
export const RUNTIME_PATHS = [
  `${STATE_DIR}/last-run`,
  `${STATE_DIR}/last-run.new`,
  `${STATE_DIR}/runs.log`,
  `${STATE_DIR}/runs.log.new`,
  `${STATE_DIR}/baseline-failed`,
  `${STATE_DIR}/baseline-failed.new`,
  `${STATE_DIR}/runs-seen`,
  `${STATE_DIR}/runs-seen.new`,
  '/var/log/safeupdate-guard.log',
  `${FLAG_DIR}/allow-once`,
] as const;

export const LAST_RUN = `${STATE_DIR}/last-run`;
/** Every bypass, refusal and run the hooks let through, one line each (also in syslog). */
export const GUARD_LOG = '/var/log/safeupdate-guard.log';

/** Folders install makes (with their modes when it makes them); uninstall removes them when empty, deepest first. */
export const DIRS: ReadonlyArray<{ path: string; mode: number }> = [
  { path: OLD_TLS_DIR, mode: 0o700 },
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
/** Root's alone. */
export const SECRET = 0o600;

/** Each mode's files, in the order install writes them: the apt.conf.d snippet, which switches the hook on, last. */
export const MODE_FILES: Record<HookMode, HookFileSpec[]> = {
  guard: [
    { path: PATHS.lib, mode: READABLE, template: 'hook-lib.sh' },
    { path: PATHS.allowOnce, mode: SCRIPT, template: 'allow-once' },
    { path: PATHS.guard, mode: SCRIPT, template: 'guard' },
    { path: PATHS.hookConf, mode: READABLE, template: null },
    { path: PATHS.guardAptConf, mode: READABLE, template: '05safeupdate-guard' },
  ],
  snapshot: [
    { path: PATHS.lib, mode: READABLE, template: 'hook-lib.sh' },
    { path: PATHS.allowOnce, mode: SCRIPT, template: 'allow-once' },
    { path: PATHS.preSnapshot, mode: SCRIPT, template: 'pre-snapshot' },
    { path: PATHS.postCheck, mode: SCRIPT, template: 'post-check' },
    { path: PATHS.brokerRequest, mode: SCRIPT, template: 'broker-request' },
    { path: PATHS.hookConf, mode: READABLE, template: null },
    { path: PATHS.checks, mode: READABLE, template: null },
    { path: PATHS.snapshotAptConf, mode: READABLE, template: '80safeupdate-snapshot' },
  ],
};

/** Every path install may have written, for uninstall and status. */
export const ALL_PATHS: readonly string[] = [...new Set([...Object.values(PATHS), ...RUNTIME_PATHS, ...OLD_TLS_FILES, OLD_GUARD_APT_CONF])];

/**
 * The proxy device that connects the broker's socket inside to the instance's own socket on the
 * host (snapshot mode). Inside it listens in /dev: a folder that exists whenever the instance runs
 * (a listen path whose folder is gone keeps LXD from starting the instance at all), a tmpfs that
 * no snapshot holds, and root's alone (0600).
 */
export const DEVICE_NAME = 'safeupdate-broker';
export const BROKER_SOCKET_INSIDE = '/dev/safeupdate-broker.sock';
/** The old snapshot mode's device, which made LXD's HTTPS API reachable inside: removed on sight. */
export const OLD_DEVICE_NAME = 'safeupdate-lxd';

/** apt's own schedules in the instance, which `--disable-timers` turns off. */
export const APT_UNITS = ['apt-daily.timer', 'apt-daily-upgrade.timer', 'unattended-upgrades.service'] as const;

/**
 * The trust entry's name. Instance names have no dots, so the name belongs to one instance of one
 * project: `safeupdate-hook.web1.prod`.
 */
export function trustName(instance: string, project: string): string {
  return `safeupdate-hook.${instance}.${project}`;
}
