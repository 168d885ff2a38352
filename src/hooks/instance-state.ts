import { LxdError } from '../errors.js';
import type { Instance, InstanceRef, Lxd, ServerApi } from '../lxd/lxd.js';
import { formatRef } from '../lxd/names.js';
import { ALL_PATHS, APT_UNITS, DIRS, GUARD_LOG, OLD_CLIENT_KEY, PATHS } from './layout.js';
import { shellJoin, shellQuote } from '../shell.js';

/** Of the guard's log, status reads this many last lines. */
const LOG_LINES = 20;

/** What install, uninstall and status need to know from inside the instance, read in one exec. */
export interface InstanceHookState {
  apt: boolean;
  /** perl (perl-base, essential in Debian and Ubuntu): the hook's request to the broker. */
  perl: boolean;
  systemd: boolean;
  /** safeupdate's files that are there: mode (octal) and content; an old key's and the request token's content are never read. */
  files: Map<string, { mode: number; content: string | null }>;
  /** safeupdate's folders that are there. */
  dirs: string[];
  /** apt's timers: `systemctl is-enabled`'s answer, `absent` when there is no such unit. */
  units: Record<string, string>;
}

/** An instance on which hooks can be (un)installed: resolved, there and running, looked inside. */
export interface Looked {
  ref: InstanceRef;
  project: string;
  instance: Instance;
  api: ServerApi;
  state: InstanceHookState;
  /** The installed hook.conf, or nothing. */
  conf: Record<string, string>;
}

/** Read-only. Paths are fixed, so the script is too; the key is listed but not read. */
export const STATE_SCRIPT = [
  'yn() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }',
  "echo \"apt=$(yn sh -c 'command -v apt-get && test -d /etc/apt/apt.conf.d')\"",
  'echo "perl=$(yn command -v perl)"',
  'echo "systemd=$(yn test -d /run/systemd/system)"',
  'if command -v systemctl >/dev/null 2>&1; then',
  `  for u in ${APT_UNITS.join(' ')}; do s=$(systemctl is-enabled "$u" 2>/dev/null | head -n 1); echo "unit=$u \${s:-absent}"; done`,
  'fi',
  `for p in ${shellJoin(ALL_PATHS)}; do`,
  '  [ -f "$p" ] || continue',
  // The key is never read; of the guard's log, which only grows, the last lines.
  `  case $p in ${shellQuote(OLD_CLIENT_KEY)} | ${shellQuote(PATHS.requestToken)}) c=- ;; ${shellQuote(GUARD_LOG)}) c=$(tail -n ${LOG_LINES} "$p" | base64 | tr -d '\\n') ;; *) c=$(base64 <"$p" | tr -d '\\n') ;; esac`,
  '  echo "file=$p $(stat -c %a "$p") ${c:-=}"',
  'done',
  `for d in ${DIRS.map((dir) => shellQuote(dir.path)).join(' ')}; do [ -d "$d" ] && echo "dir=$d"; done`,
  'exit 0',
].join('\n');

export async function readHookState(lxd: Lxd, ref: InstanceRef): Promise<InstanceHookState> {
  const result = await lxd.exec(ref, ['sh', '-c', STATE_SCRIPT], { timeoutMs: 30_000 });
  if (result.exitCode !== 0) {
    const why = result.timedOut ? 'it did not answer within 30s' : (result.stderr.trim() || `exit ${result.exitCode ?? result.signal}`);
    throw new LxdError(`cannot look inside ${formatRef(ref)}: ${why}`, 'failed', []);
  }
  return parseHookState(result.stdout);
}

export function parseHookState(stdout: string): InstanceHookState {
  const state: InstanceHookState = { apt: false, perl: false, systemd: false, files: new Map(), dirs: [], units: {} };
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    switch (key) {
      case 'apt':
      case 'perl':
      case 'systemd':
        state[key] = value === 'yes';
        break;
      case 'unit': {
        const [unit = '', answer = 'absent'] = value.split(' ');
        state.units[unit] = answer;
        break;
      }
      case 'file': {
        const [path = '', mode = '', content = ''] = value.split(' ');
        const text = content === '-' ? null : content === '=' ? '' : Buffer.from(content, 'base64').toString('utf8');
        state.files.set(path, { mode: Number.parseInt(mode, 8), content: text });
        break;
      }
      case 'dir':
        state.dirs.push(value);
        break;
    }
  }
  return state;
}

/** One check's result in the hook's record. */
export interface HookCheckRecord {
  status: 'ok' | 'warning' | 'failed';
  name: string;
  message: string;
}

/** The hook's record of its last run (/var/lib/safeupdate-hook/last-run): the last value of each key counts. */
export interface HookRunRecord {
  values: Record<string, string>;
  checks: HookCheckRecord[];
}

export function parseRunRecord(text: string): HookRunRecord {
  const values: Record<string, string> = {};
  const checks: HookCheckRecord[] = [];
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'check') {
      const [status = '', name = '', message = ''] = value.split('\t');
      if (status === 'ok' || status === 'warning' || status === 'failed') checks.push({ status, name, message });
    } else {
      values[key] = value;
    }
  }
  return { values, checks };
}
