import type { CheckDefinition } from '../checks/check.js';
import { checkFromEntry, defineCheck } from '../checks/spec.js';
import { settingsFor, type Config, type Settings } from '../config/config-file.js';
import { EXPIRY_LIMIT, parseDuration, TIMER_LIMIT } from '../config/duration.js';
import { UsageError } from '../errors.js';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import { formatRef, ownSnapshotName, parseInstanceRef } from '../lxd/names.js';
import type { RefuseLevel } from '../packages/policy.js';
import type { RestartMode } from '../report/report.js';
import type { RehearseMode } from '../run/types.js';
import type { RunOptions } from '../run/types.js';
import { missingSeparator } from './stray-words.js';

/** The run's flags as commander hands them over; undefined where not given. */
export interface RunFlags {
  project?: string;
  check: string[];
  force?: boolean;
  snapshotName?: string;
  /** false with --no-expiry. */
  expiry?: string | false;
  env: string[];
  timeout?: string;
  /** false with --no-rollback. */
  rollback?: boolean;
  keepFailed?: boolean;
  keep?: string;
  copyTo?: string;
  dryRun?: boolean;
  refuse?: string;
  allow?: string[];
  keepUnchanged?: boolean;
  soak?: string;
  /** true with --rehearse, 'force' with --rehearse=force. */
  rehearse?: boolean | string;
  /** auto, always or never. */
  restart?: string;
  /** false with --no-package-report. */
  packageReport?: boolean;
  json?: boolean;
  config?: string;
}

/**
 * restart auto: a restart costs seconds and only comes when the update left one due, while an
 * update that breaks at the next start would otherwise pass, and break long after its snapshot expired.
 */
export const BUILT_IN = { expiry: '14d', timeout: '1h', restart: 'auto' } as const;

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Turns flags and config into run options, refusing bad input before anything is touched.
 * Precedence: flags > the instance's config section > config defaults > built-in values.
 */
export function toRunOptions(instance: string, command: string[] | null, flags: RunFlags, settings: Settings, terminal: boolean): RunOptions {
  if (command === null) throw missingSeparator(instance);
  if (command.length === 0 || command[0]!.trim() === '') throw new UsageError('the update command after "--" is empty');
  const expiry = flags.expiry ?? (settings.expiry === 'never' ? false : (settings.expiry ?? BUILT_IN.expiry));
  const options: RunOptions = {
    ref: parseInstanceRef(instance, flags.project ?? null),
    command,
    checks: resolveChecks(flags.check, settings),
    force: flags.force ?? settings.force ?? false,
    snapshotName: flags.snapshotName === undefined ? null : ownSnapshotName(flags.snapshotName),
    expiryMs: expiry === false ? null : parseDuration(expiry, '--expiry', EXPIRY_LIMIT),
    env: { ...settings.env, ...parseEnv(flags.env) },
    timeoutMs: parseDuration(flags.timeout ?? settings.timeout ?? BUILT_IN.timeout, '--timeout', TIMER_LIMIT),
    rollback: flags.rollback ?? settings.rollback ?? true,
    keepFailed: flags.keepFailed ?? settings['keep-failed'] ?? false,
    keep: parseKeep(flags.keep) ?? settings.keep ?? null,
    copyTo: parseRemoteTarget(flags.copyTo ?? settings['copy-to'], '--copy-to'),
    dryRun: flags.dryRun ?? false,
    packageReport: flags.packageReport ?? true,
    policy: {
      refuse: parseRefuse(flags.refuse ?? settings.refuse),
      // --allow replaces the configured list, as --check does.
      allow: flags.allow?.length ? flags.allow : (settings.allow ?? []),
    },
    keepUnchanged: flags.keepUnchanged ?? settings['keep-unchanged'] ?? false,
    soakMs: parseSoak(flags.soak ?? settings.soak),
    rehearse: parseRehearse(flags.rehearse ?? settings.rehearse),
    restart: parseRestart(flags.restart ?? settings.restart ?? BUILT_IN.restart),
    interactive: terminal && !flags.json && !flags.dryRun,
  };
  refuseShortExpiry(options, flags, settings);
  return options;
}

/**
 * The snapshot must outlive the run: LXD deletes an expired snapshot by itself, and a rollback
 * may come at the end of the update's timeout and the soak. Checked on the values in effect,
 * wherever each came from (flag, config file, built-in).
 */
function refuseShortExpiry(options: RunOptions, flags: RunFlags, settings: Settings): void {
  if (options.expiryMs === null) return;
  const needed = options.timeoutMs + (options.soakMs ?? 0);
  if (options.expiryMs > needed) return;
  const named = (key: 'expiry' | 'timeout' | 'soak', value: string | undefined) =>
    flags[key] !== undefined ? `--${key} ${value}` : settings[key] !== undefined ? `${key} ${value} (config file)` : `the default ${key} ${value}`;
  const expiry = named('expiry', String(flags.expiry ?? settings.expiry ?? BUILT_IN.expiry));
  const timeout = named('timeout', flags.timeout ?? settings.timeout ?? BUILT_IN.timeout);
  const soak = options.soakMs === null ? '' : ` plus ${named('soak', flags.soak ?? settings.soak)}`;
  throw new UsageError(
    `${expiry} is not longer than ${timeout}${soak}: LXD would delete the snapshot before the run is done with it, and a rollback would have nothing to restore; ` +
      'give a longer expiry, or --no-expiry',
  );
}

/**
 * One instance's run options, the same way for a single run and for each instance of a fleet: its
 * config section keyed as the instance was typed (`backup:db1`, see settingsFor), and every refusal
 * of bad input made before anything changes. `resolved`: the ref a fleet's selection found.
 */
export async function runOptionsFor(lxd: Lxd, instance: string, resolved: InstanceRef | null, command: string[] | null, flags: RunFlags, config: Config, terminal: boolean): Promise<RunOptions> {
  const options = toRunOptions(instance, command, flags, settingsFor(config, instance), terminal);
  const ref = resolved ?? options.ref;
  await refuseCopyToSource(lxd, [ref], options.copyTo, '--copy-to');
  return { ...options, ref };
}

/** `--check` flags replace the configured checks; null when none are given anywhere. */
export function resolveChecks(flagChecks: string[], settings: Settings): CheckDefinition[] | null {
  const checks = flagChecks.length ? flagChecks.map((spec) => defineCheck(spec)) : (settings.checks?.map(checkFromEntry) ?? null);
  const names = new Set<string>();
  for (const check of checks ?? []) {
    if (names.has(check.name)) throw new UsageError(`check "${check.name}" is given twice; give one a name of its own`);
    names.add(check.name);
  }
  return checks;
}

/** `<remote>:`, the way lxc names a remote, as the target of a copy. */
export function parseRemoteTarget(text: string | undefined, what: string): string | null {
  if (text === undefined) return null;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*:$/.test(text)) throw new UsageError(`${what} "${text}": expected a remote as <remote>:, like backup:`);
  return text.slice(0, -1);
}

function parseRefuse(text: string | undefined): RefuseLevel | null {
  if (text === undefined) return null;
  if (text !== 'major' && text !== 'minor') throw new UsageError(`--refuse "${text}": expected major or minor`);
  return text;
}

function parseSoak(text: string | undefined): number | null {
  return text === undefined ? null : parseDuration(text, '--soak', TIMER_LIMIT);
}

function parseKeep(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--keep "${text}": expected a whole number of at least 1`);
  return Number(text);
}

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_KEY.test(key)) throw new UsageError(`--env "${pair}": expected KEY=VALUE with a variable name as KEY`);
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

/**
 * A snapshot server must be another server: a refresh onto the instance's own remote would copy
 * the instance onto itself. Bad input, before anything is touched.
 */
export async function refuseCopyToSource(lxd: Lxd, refs: InstanceRef[], server: string | null, what: string): Promise<void> {
  if (server === null) return;
  const defaultRemote = refs.some((ref) => ref.remote === null) ? await lxd.defaultRemote() : null;
  const source = refs.find((ref) => (ref.remote ?? defaultRemote) === server);
  if (source) throw new UsageError(`${what} "${server}:": that is where ${formatRef(source)} lives; a snapshot server must be another remote`);
}

/** `--rehearse` (true), `--rehearse=force`, or the config's `rehearse: true | false | force`. */
function parseRehearse(value: boolean | string | undefined): RehearseMode {
  if (value === undefined || value === false) return 'off';
  if (value === true) return 'on';
  if (value === 'force') return 'force';
  throw new UsageError(`--rehearse=${value}: expected --rehearse or --rehearse=force`);
}

/** `--restart auto|always|never`, or the config's `restart:`. */
function parseRestart(value: string): RestartMode {
  if (value === 'auto' || value === 'always' || value === 'never') return value;
  throw new UsageError(`--restart "${value}": expected auto, always or never`);
}
