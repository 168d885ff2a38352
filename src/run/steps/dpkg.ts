import { formatDuration } from '../../config/duration.js';
import type { ExecResult } from '../../lxd/lxd.js';
import { recogniseApt } from '../../packages/apt-command.js';
import { aptConfigPath, aptConfigText, CONFFILE_OPTIONS, REMOVE_APT_CONFIG, WRITE_APT_CONFIG } from '../../packages/apt-options.js';
import { CONFFILES_SCRIPT, decideConffiles, parseConffiles, type ConffileState } from '../../packages/conffiles.js';
import { describeHolder, DPKG_LOCK_SCRIPT, parseLockProbe, waitForDpkgLock } from '../../packages/dpkg-lock.js';
import type { DpkgReport, InstanceReport } from '../../report/report.js';
import type { Failure, RunOptions } from '../types.js';
import { step, warn, type RunScope } from './scope.js';

/**
 * Unattended apt runs that do not trip on dpkg (issue 23): before the snapshot, wait for dpkg's lock
 * up to a bound; around the update, give an unattended apt the conffile options (apt-options.ts) and
 * report what became of locally modified conffiles (conffiles.ts). Only for a command that
 * recogniseApt knows; any other command gets none of it.
 */

/** Reads of dpkg's database and a small file write: seconds, not minutes. */
const DPKG_READ_TIMEOUT_MS = 60_000;

/** The apt settings for this run, or null when the command is not apt's (or the feature is off). */
export function aptRunOf(options: Pick<RunOptions, 'command' | 'apt'>): { lockTimeoutMs: number } | null {
  return options.apt && recogniseApt(options.command) ? options.apt : null;
}

function dpkgOf(item: InstanceReport): DpkgReport {
  item.dpkg ??= { lock: null, aptConfig: null, conffiles: null };
  return item.dpkg;
}

/**
 * Waits for dpkg's lock before the snapshot: a snapshot taken while another apt runs would catch
 * dpkg half-way, and an update started then would fail on the lock. Returns the failure that ends
 * the run (the lock still held at the bound: nothing changed, exit 3), or null to go on.
 */
export async function waitForLock(scope: RunScope, boundMs: number): Promise<Failure | null> {
  const { lxd, clock, emit, interrupt } = scope.context;
  const { ref } = scope;
  const report = dpkgOf(scope.item);
  const outcome = await step(scope, 'dpkg-lock', "Wait for dpkg's lock", async () => {
    const wait = await waitForDpkgLock(async () => parseLockProbe(lookResult(await lxd.exec(ref, ['sh', '-c', DPKG_LOCK_SCRIPT], { timeoutMs: DPKG_READ_TIMEOUT_MS }))), clock, boundMs, {
      signal: interrupt,
      onHeld: (holders, waitedMs) => emit({ type: 'progress', message: `dpkg's lock is held by ${holders.map(describeHolder).join(', ')}; waited ${formatDuration(waitedMs)} of ${formatDuration(boundMs)}` }),
    });
    report.lock = { boundMs, waitedMs: wait.waitedMs, state: wait.state, holders: wait.holders };
    if (wait.state === 'unknown') warn(scope, `could not tell whether dpkg's lock is held (${wait.reason}); apt waits for it itself where it can`);
    const message = {
      free: wait.holders.length ? `free after ${formatDuration(wait.waitedMs)}` : 'free',
      held: `still held after ${formatDuration(wait.waitedMs)}`,
      'no-dpkg': 'no dpkg in the instance',
      unknown: 'cannot tell',
      interrupted: `interrupted after ${formatDuration(wait.waitedMs)}`,
    }[wait.state];
    if (wait.state === 'held') throw new Error(message);
    return { message };
  });
  if (outcome.ok || report.lock?.state !== 'held') return null;
  const holders = report.lock.holders.map(describeHolder).join(', ');
  return { step: 'dpkg-lock', message: `dpkg's lock is still held after ${formatDuration(boundMs)} (--lock-timeout) by ${holders}; nothing changed` };
}

/** Whether the wait before the snapshot found another apt holding dpkg's lock at some look. */
export function lockWasHeld(item: InstanceReport): boolean {
  return (item.dpkg?.lock?.holders.length ?? 0) > 0;
}

/** A look that did not answer is a probe whose state is unknown, not an error of the run. */
function lookResult(result: ExecResult): string {
  if (result.exitCode === 0) return result.stdout;
  return `unknown the look exited ${result.exitCode ?? result.signal}`;
}

export interface PreparedApt {
  /** Added to the update command's environment. */
  env: Record<string, string>;
  configFile: string | null;
  conffilesBefore: ConffileState | null;
}

/**
 * Right before the update: writes the apt configuration for an unattended run (not when the command
 * owns a terminal, where dpkg asks as usual, nor when --env sets APT_CONFIG itself), and reads the
 * conffiles, in one exec. A failure is a warning: the update then runs as it would without safeupdate.
 */
export async function prepareApt(
  scope: RunScope,
  options: Pick<RunOptions, 'interactive' | 'env'>,
  { lockTimeoutMs, readConffiles }: { lockTimeoutMs: number; readConffiles: boolean },
): Promise<PreparedApt> {
  const { context: { lxd, runId }, ref, item } = scope;
  const own = options.env.APT_CONFIG !== undefined;
  if (own && !options.interactive) warn(scope, `APT_CONFIG is set by --env: safeupdate gives apt no conffile options and no lock timeout of its own`);
  const file = options.interactive || own ? null : aptConfigPath(runId);
  const none: PreparedApt = { env: {}, configFile: null, conffilesBefore: null };
  if (file === null && !readConffiles) return none;
  const script = [file === null ? '' : WRITE_APT_CONFIG, readConffiles ? CONFFILES_SCRIPT : ''].filter(Boolean).join('\n');
  const title = file === null ? 'Read the conffiles' : `Give apt ${CONFFILE_OPTIONS.join(' ')}`;
  const outcome = await step(scope, 'apt-config', title, async () => {
    const result = await lxd.exec(ref, ['sh', '-c', script, 'safeupdate-apt-prepare', file ?? '', aptConfigText(lockTimeoutMs)], { timeoutMs: DPKG_READ_TIMEOUT_MS });
    if (result.exitCode === 7) throw new Error(`could not write ${file}`);
    if (result.exitCode !== 0) throw new Error(`the conffiles could not be read (exit ${result.exitCode ?? result.signal})`);
    const conffiles = readConffiles ? parseConffiles(result.stdout) : null;
    return { message: file === null ? 'read' : `APT_CONFIG=${file}`, conffiles };
  });
  if (!outcome.ok) {
    warn(scope, `${outcome.message}: the update runs without safeupdate's apt options, and the report lists no conffiles`);
    return none;
  }
  if (file !== null) {
    dpkgOf(item).aptConfig = { file, dpkgOptions: [...CONFFILE_OPTIONS], lockTimeoutSeconds: Math.max(1, Math.ceil(lockTimeoutMs / 1000)) };
  }
  return { env: file === null ? {} : { APT_CONFIG: file }, configFile: file, conffilesBefore: outcome.value.conffiles };
}

/** After the update: removes the apt configuration and records what became of the modified conffiles (one exec). */
export async function finishApt(scope: RunScope, prepared: PreparedApt): Promise<void> {
  const { context: { lxd }, ref, item } = scope;
  const readConffiles = prepared.conffilesBefore !== null;
  if (prepared.configFile === null && !readConffiles) return;
  const script = [prepared.configFile === null ? '' : REMOVE_APT_CONFIG, readConffiles ? CONFFILES_SCRIPT : ''].filter(Boolean).join('\n');
  const outcome = await step(scope, 'conffiles', 'Conffiles after the update', async () => {
    const result = await lxd.exec(ref, ['sh', '-c', script, 'safeupdate-apt-finish', prepared.configFile ?? ''], { timeoutMs: DPKG_READ_TIMEOUT_MS });
    if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode ?? result.signal}`);
    const after = readConffiles ? parseConffiles(result.stdout) : null;
    const conffiles = prepared.conffilesBefore && after ? decideConffiles(prepared.conffilesBefore, after) : null;
    if (conffiles) dpkgOf(item).conffiles = conffiles;
    return { message: conffiles === null ? 'apt configuration removed' : conffiles.length ? conffiles.map((c) => `${c.outcome} ${c.path}`).join(', ') : 'no modified conffile changed' };
  });
  if (!outcome.ok) warn(scope, `after the update: ${outcome.message}; ${prepared.configFile ? `${prepared.configFile} may remain (nothing reads it)` : ''}; the report lists no conffiles`);
}

/** The options the update command runs with: APT_CONFIG added to the environment where prepareApt wrote a file. */
export function withAptEnv(options: RunOptions, prepared: PreparedApt | null): RunOptions {
  return prepared ? { ...options, env: { ...options.env, ...prepared.env } } : options;
}
