import type { CheckDefinition } from '../checks/check.js';
import type { Clock } from '../checks/probe.js';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import type { UpgradePolicy } from '../packages/policy.js';
import type { RestartMode } from '../report/report.js';
import type { Emit } from './events.js';

export type RehearseMode = 'off' | 'on' | 'force';

export interface RunOptions {
  ref: InstanceRef;
  command: string[];
  /** null: none configured, so `systemd` where the instance runs systemd. */
  checks: CheckDefinition[] | null;
  /** Update even when a required check fails at baseline. */
  force: boolean;
  /** null: `safeupdate-YYYYMMDD-HHMMSS`. */
  snapshotName: string | null;
  /** null: the snapshot never expires. */
  expiryMs: number | null;
  env: Record<string, string>;
  timeoutMs: number;
  rollback: boolean;
  /** After a successful update, keep only this many of the newest safeupdate snapshots (null: all). */
  keep: number | null;
  /** After a successful update, refresh the instance with its snapshots to this remote (a snapshot server). */
  copyTo: string | null;
  /** Before restoring, keep the broken state as a stopped copy `<name>-failed-<timestamp>`. */
  keepFailed: boolean;
  dryRun: boolean;
  /** Read the installed packages before and after the update, and report what changed. */
  packageReport: boolean;
  /** Refuse, before anything changes, an update that would move a package this far (apt simulation). */
  policy: UpgradePolicy;
  /** Keep the snapshot even when the update changed no package. */
  keepUnchanged: boolean;
  /** After the after-update checks pass, keep watching this long before calling it healthy (null: not at all). */
  soakMs: number | null;
  /** After the update, before the checks: restart when due (auto), every time, or never (a due restart is then a warning). */
  restart: RestartMode;
  /** Try the update on a throw-away copy of the snapshot first (`force`: also on a dir pool, where that is a full copy). */
  rehearse: RehearseMode;
  /** The command owns the terminal. */
  interactive: boolean;
}

export interface RunContext {
  lxd: Lxd;
  clock: Clock;
  emit: Emit;
  runId: string;
  /** Where this run keeps its log, evidence and report. */
  runDir: string;
  /** Where runs in progress keep their records (the per-instance locks). */
  stateDir: string;
  toolVersion: string;
  /** Aborted by SIGINT, SIGTERM or SIGHUP; `reason` is the signal's name. */
  interrupt: AbortSignal;
}

export interface Failure {
  step: string;
  message: string;
  /** The signal that ended the run this way, where one did. */
  signal?: string;
}
