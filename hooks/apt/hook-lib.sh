# safeupdate-hook-version: @VERSION@
# Shared by safeupdate's apt hooks (guard, pre-snapshot, post-check): sourced, never run.
# Installed by "safeupdate hooks install" on the LXD host; POSIX sh, nothing else inside.

SU_ROOT='@ROOT@'
SU_LIB="$SU_ROOT/usr/local/lib/safeupdate"
SU_CONF="$SU_ROOT/etc/safeupdate/hook.conf"
SU_CHECKS="$SU_ROOT/etc/safeupdate/checks"
SU_FLAG_DIR="$SU_ROOT/run/safeupdate"
SU_FLAG="$SU_FLAG_DIR/allow-once"
SU_LOG="$SU_ROOT/var/log/safeupdate-guard.log"
SU_STATE="$SU_ROOT/var/lib/safeupdate-hook"
SU_RECORD="$SU_STATE/last-run"
SU_RUNS="$SU_STATE/runs.log"
SU_BASELINE="$SU_STATE/baseline-failed"
SU_TOKEN="$SU_STATE/request-token"
SU_SEEN="$SU_STATE/runs-seen"
SU_BROKER_SOCKET="$SU_ROOT/dev/safeupdate-broker.sock"
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

# su_apt_config: apt's hook protocol (Pre-Install-Pkgs, version 3) read from stdin, all of it (apt
# fails a hook that leaves it unread): "VERSION 3", the configuration as Key=Value (values
# %-encoded) up to an empty line, then a line per package action. Prints allow=yes|no (-o
# SafeUpdate::Allow on this command line, not from a config file), simulate=yes|no (apt only
# pretends: Debug::pkgDPkgPM, as unattended-upgrade --dry-run sets it) and command=.
su_apt_config() {
  awk '
    function hexdigit(c) { return index("0123456789abcdef", tolower(c)) - 1 }
    function decode(s,   out, i, c, hi, lo) {
      out = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "%" && i + 2 <= length(s)) {
          hi = hexdigit(substr(s, i + 1, 1)); lo = hexdigit(substr(s, i + 2, 1))
          if (hi >= 0 && lo >= 0) { out = out sprintf("%c", hi * 16 + lo); i += 2; continue }
        }
        out = out c
      }
      return out
    }
    function yes(v) { v = tolower(v); return v == "1" || v == "true" || v == "yes" || v == "on" }
    NR == 1 && /^VERSION / { inconf = 1; next }
    inconf && $0 == "" { inconf = 0; next }
    inconf {
      eq = index($0, "="); key = tolower(substr($0, 1, eq - 1)); value = decode(substr($0, eq + 1))
      if (key == "safeupdate::allow") allow = value
      else if (key == "commandline::asstring") command = value
      else if (key == "debug::pkgdpkgpm" && yes(value)) simulate = 1
    }
    END {
      gsub(/[\n\t]/, " ", command)
      given = index(tolower(command), "safeupdate::allow") > 0
      print "allow=" ((given && yes(allow)) ? "yes" : "no")
      print "simulate=" (simulate ? "yes" : "no")
      print "command=" command
    }'
}

# su_field NAME TEXT: NAME's value in key=value lines.
su_field() {
  printf '%s\n' "$2" | sed -n "s/^$1=//p" | head -n 1
}

# The apt run the hook belongs to: the boot, and the pid and start time of the apt process (apt,
# apt-get, aptitude, unattended-upgrade) above the hook. Every dpkg call of one apt run has the same.
su_run_id() {
  su_pid=$PPID
  su_found=''
  for _ in 1 2 3 4 5 6; do
    [ -r "/proc/$su_pid/cmdline" ] || break
    su_cmd=$(tr '\0' ' ' <"/proc/$su_pid/cmdline")
    case ${su_cmd%% *} in
      apt | */apt | apt-get | */apt-get | aptitude | */aptitude) su_found=$su_pid; break ;;
    esac
    case $su_cmd in *unattended-upgrade*) su_found=$su_pid; break ;; esac
    su_pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$su_pid/status" 2>/dev/null)
    [ -n "$su_pid" ] && [ "$su_pid" -gt 1 ] || break
  done
  su_found=${su_found:-$PPID}
  # apt runs some hooks from a forked copy of itself: the run is the topmost of the copies.
  for _ in 1 2 3; do
    su_up=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$su_found/status" 2>/dev/null)
    [ -n "$su_up" ] && [ "$su_up" -gt 1 ] && [ "$(tr '\0' ' ' <"/proc/$su_up/cmdline" 2>/dev/null)" = "$(tr '\0' ' ' <"/proc/$su_found/cmdline" 2>/dev/null)" ] || break
    su_found=$su_up
  done
  # Field 22 of stat, counted after the command name, which may hold spaces and parentheses.
  su_start=$(sed 's/.*) //' "/proc/$su_found/stat" 2>/dev/null | cut -d' ' -f20)
  su_boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null | tr -cd '0-9a-f' | cut -c1-12)
  printf '%s:%s:%s\n' "${su_boot:-boot}" "$su_found" "${su_start:-0}"
}

# su_seen RUN WHAT: whether this apt run was marked WHAT (snapshot, simulation, bypass) by an earlier call.
su_seen() {
  grep -q "^$1 $2\( \|\$\)" "$SU_SEEN" 2>/dev/null
}

# su_see RUN WHAT [DETAIL]: marks the apt run; the newest 50 marks are kept.
su_see() {
  mkdir -p "$SU_STATE" 2>/dev/null
  { tail -n 49 "$SU_SEEN" 2>/dev/null; printf '%s %s%s\n' "$1" "$2" "${3:+ $3}"; } >"$SU_SEEN.new" 2>/dev/null && mv "$SU_SEEN.new" "$SU_SEEN"
}

su_seen_detail() {
  sed -n "s/^$1 $2 //p" "$SU_SEEN" 2>/dev/null | tail -n 1
}

# su_broker REQUEST RUN ARGS...: one request to this instance's broker on the host, through the proxy
# device; prints the answer as key=value lines. A fresh one-time token is written where only root in
# this instance can write (the broker reads it back through LXD to know the request came from here),
# and removed afterwards. While the broker works, the request waits in one blocking read.
su_broker() {
  su_req=$1
  su_run=$2
  shift 2
  su_tok=$(od -An -N16 -tx1 /dev/urandom 2>/dev/null | tr -cd '0-9a-f')
  mkdir -p "$SU_STATE" 2>/dev/null
  (umask 077 && printf '%s\n' "$su_tok" >"$SU_TOKEN.new" && mv "$SU_TOKEN.new" "$SU_TOKEN") 2>/dev/null
  "$SU_LIB/broker-request" "$SU_BROKER_SOCKET" "$su_req" "$su_run" "$su_tok" "$@"
  su_rc=$?
  rm -f "$SU_TOKEN"
  return $su_rc
}
