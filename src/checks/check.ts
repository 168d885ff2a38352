import type { InstanceRef, Lxd } from '../lxd/lxd.js';

/** `soak`: the watch after the after-update checks passed (`--soak`). */
export type Phase = 'baseline' | 'after-update' | 'soak' | 'after-rollback' | 'check';

export interface ProbeTiming {
  /** Bound on one attempt. */
  timeoutMs: number;
  /** Pause between attempts. */
  intervalMs: number;
  /** Bound on the whole check, settle excluded. */
  deadlineMs: number;
  /** Wait before the first attempt after an update, for services that take time to come up. */
  settleMs: number;
}

export const DEFAULT_TIMING: ProbeTiming = { timeoutMs: 10_000, intervalMs: 2_000, deadlineMs: 60_000, settleMs: 0 };

export type CheckSpec =
  | { kind: 'exec'; command: string }
  | { kind: 'unit'; unit: string }
  | { kind: 'systemd' }
  /** From the host; `{ip}` in the URL is the instance's IPv4 address, looked up on every attempt. */
  | { kind: 'http'; url: string; expect: string | null; tls?: HttpsTrust }
  | { kind: 'tcp'; host: string; port: number };

/**
 * How an https check trusts the server's certificate beyond the system's CAs: a CA of its own
 * (PEM, read when the config is loaded), or no verification at all, which its result says.
 */
export type HttpsTrust = { ca: string; caFile: string } | { insecure: true };

export interface CheckDefinition {
  /** Used in reports and to refer to the check; defaults to the spec as written. */
  name: string;
  spec: CheckSpec;
  /** A failing non-required check is a warning and never triggers a rollback. */
  required: boolean;
  timing: ProbeTiming;
}

/** What one attempt saw. */
export interface Observation {
  /** `fail` is definite (no use retrying); `retry` may still turn into a pass. */
  state: 'pass' | 'fail' | 'retry';
  message: string;
  /**
   * After an update or a rollback, a pass with a key is confirmed by a second pass with the same key
   * a moment later: a service that is `active` for the instant between its start and its crash must
   * not count as healthy. At baseline and in `check` nothing of ours is changing, and the key is not used.
   */
  confirmKey?: string;
  failedUnits?: string[];
}

export interface CheckContext {
  lxd: Lxd;
  ref: InstanceRef;
  phase: Phase;
  /** Units already failed at baseline: the systemd check does not blame the update for them. */
  baselineFailedUnits: readonly string[];
  signal?: AbortSignal;
}

export interface CheckResult {
  name: string;
  phase: Phase;
  ok: boolean;
  required: boolean;
  attempts: number;
  durationMs: number;
  message: string;
  /** The systemd check's failed units, for the report and the next phase's baseline. */
  failedUnits?: string[];
}

export type Attempt = (context: CheckContext, timeoutMs: number) => Promise<Observation>;

/** The required checks that failed, as the run reports them; null when none did. */
export function describeFailedChecks(results: CheckResult[]): string | null {
  const failed = results.filter((result) => result.required && !result.ok);
  if (failed.length === 0) return null;
  return `check${failed.length > 1 ? 's' : ''} failed: ${failed.map((result) => `${result.name} (${result.message})`).join('; ')}`;
}
