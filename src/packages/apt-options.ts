/**
 * The apt configuration safeupdate gives an unattended apt run, through APT_CONFIG: apt reads the
 * file it names first, before /etc/apt/apt.conf.d, so the instance's own configuration still wins
 * (an admin's `--force-confnew` stays in force). A file rather than `-o` options, because the user's
 * command is never edited, and a shell line (`sh -c 'apt-get update && apt-get upgrade -y'`) and
 * unattended-upgrade (which reads DPkg::Options itself and otherwise holds back every package with
 * a conffile prompt) see it as well. Rather than DPKG_FORCE, because that one dpkg reads but
 * unattended-upgrade does not, and it replaces dpkg's built-in defaults.
 *
 * It lives in /run (a tmpfs under systemd, writable by root only), is written after the snapshot,
 * and removed after the command: a crash leaves at most a file that nothing reads.
 */

/** The Debian convention for unattended upgrades: keep a locally modified conffile, take new defaults. */
export const CONFFILE_OPTIONS = ['--force-confdef', '--force-confold'] as const;

export function aptConfigPath(runId: string): string {
  return `/run/safeupdate/apt-${runId.replace(/[^A-Za-z0-9._-]/g, '_')}.conf`;
}

/** The file's text: dpkg's options, and apt's own wait for the dpkg lock (apt 1.9.11 and later; older apt ignores it). */
export function aptConfigText(lockTimeoutMs: number): string {
  const seconds = Math.max(1, Math.ceil(lockTimeoutMs / 1000));
  return [
    '// Written by safeupdate for one unattended run; removed after it.',
    `DPkg::Options { ${CONFFILE_OPTIONS.map((option) => `"${option}";`).join(' ')} };`,
    `DPkg::Lock::Timeout "${seconds}";`,
    '',
  ].join('\n');
}

/** Shell lines that write ($1 = path, $2 = text) or remove ($1 = path) the file; exit 7 when the write fails. */
export const WRITE_APT_CONFIG = `umask 022; mkdir -p "\${1%/*}" && printf '%s' "$2" >"$1" || exit 7`;
export const REMOVE_APT_CONFIG = `rm -f "$1"`;
