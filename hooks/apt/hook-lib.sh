# safeupdate-hook-version: @VERSION@
# Shared by safeupdate's apt hooks (guard, pre-snapshot, post-check): sourced, never run.
# Installed by "safeupdate hooks install" on the LXD host; POSIX sh, nothing else inside.

SU_ROOT='@ROOT@'
SU_LIB="$SU_ROOT/usr/local/lib/safeupdate"
SU_CONF="$SU_ROOT/etc/safeupdate/hook.conf"
SU_CHECKS="$SU_ROOT/etc/safeupdate/checks"
SU_TLS="$SU_ROOT/etc/safeupdate/lxd"
SU_FLAG_DIR="$SU_ROOT/run/safeupdate"
SU_FLAG="$SU_FLAG_DIR/allow-once"
SU_LOG="$SU_ROOT/var/log/safeupdate-guard.log"
SU_STATE="$SU_ROOT/var/lib/safeupdate-hook"
SU_RECORD="$SU_STATE/last-run"
SU_RUNS="$SU_STATE/runs.log"
SU_BASELINE="$SU_STATE/baseline-failed"
SU_DEVLXD="$SU_ROOT/dev/lxd/sock"
SU_SYSTEMD="$SU_ROOT/run/systemd/system"

# su_conf KEY: KEY's value in hook.conf, empty when it is not there.
su_conf() {
  sed -n "s/^$1=//p" "$SU_CONF" 2>/dev/null | head -n 1
}

su_now() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

su_say() {
  printf 'safeupdate hook: %s\n' "$*" >&2
}

# su_log PRIORITY MESSAGE: a line in the log file and, where logger exists, in syslog (facility auth).
su_log() {
  mkdir -p "${SU_LOG%/*}" 2>/dev/null
  printf '%s %s\n' "$(su_now)" "$2" >>"$SU_LOG" 2>/dev/null
  if command -v logger >/dev/null 2>&1; then
    logger -t safeupdate-hook -p "auth.$1" -- "$2" 2>/dev/null
  fi
  return 0
}

# Who is at the keyboard: through sudo, the user who typed sudo.
su_who() {
  if [ -n "${SUDO_USER:-}" ]; then printf '%s (via sudo)' "$SUDO_USER"; else id -un 2>/dev/null || echo "uid $(id -u)"; fi
}

# The deliberate one-time bypass: true when the flag file was there; it is gone afterwards. rm
# succeeds for one caller only, so a flag is never used twice.
su_take_allow_once() {
  rm "$SU_FLAG" 2>/dev/null
}

# How the LXD host names this instance, as safeupdate's arguments: "web1", "backup:web1 --project prod".
su_host_instance() {
  su_hi=$(su_conf host_instance)
  su_ho=$(su_conf host_options)
  printf '%s%s\n' "${su_hi:-<instance>}" "${su_ho:+ $su_ho}"
}

# su_rollback_command SNAPSHOT: the host command that goes back to a snapshot of this instance.
su_rollback_command() {
  su_hi=$(su_conf host_instance)
  su_ho=$(su_conf host_options)
  printf 'safeupdate rollback %s %s%s\n' "${su_hi:-<instance>}" "$1" "${su_ho:+ $su_ho}"
}

# The apt command that invoked the hook, from the process tree (Pre-Invoke and Post-Invoke get no
# command line from apt); best effort, empty when it cannot be told.
su_apt_command() {
  su_pid=$PPID
  for _ in 1 2 3 4 5; do
    [ -r "/proc/$su_pid/cmdline" ] || break
    su_cmd=$(tr '\0' ' ' <"/proc/$su_pid/cmdline" | sed 's/ *$//')
    su_first=${su_cmd%% *}
    case $su_first in
      apt | */apt | apt-get | */apt-get | aptitude | */aptitude) printf '%s%s\n' "${su_first##*/}" "${su_cmd#"$su_first"}"; return 0 ;;
    esac
    case $su_cmd in *unattended-upgrade*) echo unattended-upgrade; return 0 ;; esac
    su_pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$su_pid/status" 2>/dev/null)
    [ -n "$su_pid" ] && [ "$su_pid" -gt 1 ] || break
  done
  return 0
}

# su_record_check STATUS NAME MESSAGE: a check's result in the record (tab-separated).
su_record_check() {
  printf 'check=%s\t%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\n\t' '  ')" "$(printf '%s' "$3" | tr '\n\t' '  ')" >>"$SU_RECORD" 2>/dev/null
}

# su_record_last KEY: the last value of KEY in the current record.
su_record_last() {
  sed -n "s/^$1=//p" "$SU_RECORD" 2>/dev/null | tail -n 1
}

# su_record KEY VALUE: appends to the record of the current hook run; a reader takes the last value of each key.
su_record() {
  mkdir -p "$SU_STATE" 2>/dev/null
  printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n\t' '  ')" >>"$SU_RECORD" 2>/dev/null
}

# Starts a new record (Pre-Invoke): written aside and moved, so a reader never sees half of one.
su_record_start() {
  mkdir -p "$SU_STATE" 2>/dev/null
  {
    echo "hook_version=@VERSION@"
    echo "mode=$(su_conf mode)"
    echo "started=$(su_now)"
    printf 'command=%s\n' "$1"
    printf 'user=%s\n' "$(su_who)"
  } >"$SU_RECORD.new" 2>/dev/null && mv "$SU_RECORD.new" "$SU_RECORD"
}

# One line per hook run, the newest 200 kept.
su_runs_append() {
  mkdir -p "$SU_STATE" 2>/dev/null
  printf '%s\n' "$1" >>"$SU_RUNS" 2>/dev/null
  if [ "$(wc -l <"$SU_RUNS" 2>/dev/null || echo 0)" -gt 200 ]; then
    tail -n 200 "$SU_RUNS" >"$SU_RUNS.new" && mv "$SU_RUNS.new" "$SU_RUNS"
  fi
  return 0
}
