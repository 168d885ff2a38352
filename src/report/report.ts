import type { CheckResult } from '../checks/check.js';
import type { PackageChange } from '../packages/inventory.js';
import type { Bump, PackageManager } from '../packages/versions.js';
import type { ClientName, Dialect } from '../lxd/dialect.js';

export type Outcome =
  | 'updated'
  | 'rolled-back'
  /** `--rehearse`: the update failed on the throw-away copy; the real instance was never touched. */
  | 'refused-by-rehearsal'
  | 'not-started'
  | 'needs-attention'
  | 'interrupted'
  | 'planned'
  /** `safeupdate check`: every required check passed, or one failed. */
  | 'healthy'
  | 'unhealthy'
  /** `safeupdate recover`: back on the recorded snapshot and healthy, or nothing needed doing. */
  | 'recovered'
  /** `safeupdate rollback`: restored to the chosen snapshot (and healthy, if running). */
  | 'restored'
  /** `safeupdate sync`: refreshed to the snapshot server, or not. */
  | 'synced'
  | 'sync-failed'
  /** A fleet stopped before it began this instance (canary, --max-failures, interrupt). */
  | 'skipped';

export interface StepRecord {
  action: string;
  ok: boolean;
  durationMs: number;
  message: string;
}

/** What the update changed in the installed packages, or what apt says it would change. */
export interface PackageReport {
  manager: PackageManager;
  /** true: apt's simulation (a dry run, a policy check); false: the inventories before and after the update. */
  simulated: boolean;
  changes: PackageChange[];
  /** Changed packages by how far they moved. */
  counts: Record<Bump, number>;
  /** No package changed, so the run deleted the snapshot it had taken (not with --keep-unchanged). */
  snapshotDeleted: boolean;
}

/** The soak: how long it was asked for and lasted, how many looks it took, and whether all stayed healthy. */
export interface SoakReport {
  requestedMs: number;
  elapsedMs: number;
  samples: number;
  ok: boolean;
}

/** `--rehearse`: what the throw-away copy went through, and why it decided what it did. */
export interface RehearsalReport {
  /** The copy's name: `<name>-rehearsal-<run id>`. */
  copy: string;
  /** The devices masked or rebound on the copy so that it would not clash with the real instance. */
  devices: string[];
  checksOnCopy: string[];
  /** Host-side checks at fixed addresses: they reach the real instance, so they did not judge the copy. */
  checksNotOnCopy: Array<{ name: string; reason: string }>;
  /** healthy: the real instance may be updated; failed: refused; inconclusive or interrupted: nothing was judged. */
  verdict: 'healthy' | 'failed' | 'inconclusive' | 'interrupted';
  message: string;
  update: InstanceReport['update'];
  /** The last lines of the copy's update log. */
  logTail: string[];
  checks: CheckResult[];
  /** The copy's restart after its update, where one was due (`--restart`). */
  restart?: RestartReport;
  steps: StepRecord[];
  warnings: string[];
  copyDeleted: boolean;
  /** Kept stopped for a post-mortem (--keep-failed). */
  copyKept: boolean;
}

/** `--restart`: after the update, restart when due (auto), every time (always), or not (never). */
export type RestartMode = 'auto' | 'always' | 'never';

/** Whether the update left the instance due a restart, and the restart if one was made (`--restart`). */
export interface RestartReport {
  mode: RestartMode;
  /** null: it could not be told (see `message`). */
  due: boolean | null;
  /** `/run/reboot-required` was there, and the packages its `.pkgs` names. */
  rebootRequired: boolean;
  packages: string[];
  /** Processes that map files the disk no longer has: the old code they still run. */
  processes: Array<{ pid: number; command: string; files: string[] }>;
  restarted: boolean;
  /** Stopped, started and answering within `limitMs`; null when not restarted. */
  cameBack: boolean | null;
  durationMs: number | null;
  limitMs: number;
  /** Why it restarted or did not, and how it ended. */
  message: string;
}

/** A disk device that an instance snapshot does not contain, so a rollback does not restore it. */
export interface UncoveredVolume {
  device: string;
  path: string;
  source: string;
  pool: string | null;
}

export interface InstanceReport {
  instance: string;
  project: string | null;
  /** The cluster member the instance is on; null outside a cluster or where not known. */
  member: string | null;
  /** When this instance's run began (ISO), and how long it took: fleets run several at once. */
  startedAt: string | null;
  durationMs: number | null;
  outcome: Outcome;
  snapshot: { name: string | null; expiresAt: string | null };
  update: {
    /** null when the command was killed or never ran. */
    exitCode: number | null;
    signal: string | null;
    timedOut: boolean;
    durationMs: number | null;
    logFile: string | null;
  };
  checks: CheckResult[];
  rollback: { performed: boolean; steps: StepRecord[] };
  evidenceDir: string | null;
  /** The refresh to a snapshot server (`--copy-to`, `sync`), when one was asked for. */
  copy: { remote: string; ok: boolean; durationMs: number; transferredSnapshots: string[]; message: string } | null;
  /** The stopped copy of the broken state (`--keep-failed`), never started by safeupdate. */
  keptFailedCopy: string | null;
  /** The rehearsal on a copy (`--rehearse`), when one ran. */
  rehearsal?: RehearsalReport;
  /** Space for the snapshot: LXD's numbers, null where it does not report them. */
  space: { pool: string; driver: string; freeBytes: number | null; neededBytes: number | null } | null;
  uncoveredVolumes: UncoveredVolume[];
  /** Every step of the run in order, rollback steps included. */
  steps: StepRecord[];
  /** What a dry run would do. */
  plan: string[];
  /** null where the packages were not read (--no-package-report, or the inventory failed: see warnings). */
  packages: PackageReport | null;
  /** After the update: whether a restart was due, and the restart (`--restart`); absent where the update never passed. */
  restart?: RestartReport;
  /** The watch after the update (`--soak`); null where none was asked for or it was never reached. */
  soak: SoakReport | null;
  /** LXD's status of the instance when the run ended, where known. */
  finalStatus: string | null;
  warnings: string[];
  error: { step: string; message: string } | null;
}

export interface Report {
  schema: 1;
  runId: string;
  tool: { name: 'safeupdate'; version: string };
  /** The client that drove the run (so the commands printed for a human are its own); absent in reports older than Incus support, which were lxc's. */
  client?: ClientName;
  startedAt: string;
  durationMs: number;
  outcome: Outcome;
  exitCode: number;
  /** The signal that interrupted the run, if one did. */
  interruptedBy: string | null;
  command: string[];
  dryRun: boolean;
  runDir: string;
  instances: InstanceReport[];
  /**
   * What the run cost in LXD: calls made (API requests and client processes), the client processes
   * among them, and the time spent in them, summed (parallel calls overlap). Absent where not
   * measured (older reports; `processes` is absent in reports from before the direct API).
   */
  lxd?: { calls: number; processes?: number; ms: number };
}

export function emptyInstanceReport(instance: string, project: string | null): InstanceReport {
  return {
    instance,
    project,
    member: null,
    startedAt: null,
    durationMs: null,
    outcome: 'not-started',
    snapshot: { name: null, expiresAt: null },
    update: { exitCode: null, signal: null, timedOut: false, durationMs: null, logFile: null },
    checks: [],
    rollback: { performed: false, steps: [] },
    evidenceDir: null,
    copy: null,
    keptFailedCopy: null,
    space: null,
    uncoveredVolumes: [],
    steps: [],
    plan: [],
    packages: null,
    soak: null,
    finalStatus: null,
    warnings: [],
    error: null,
  };
}

/** The report's frame around its instances; every subcommand that reports builds it here. */
export function frameReport(
  run: { runId: string; toolVersion: string; runDir: string; lxd?: { dialect: Dialect } },
  startedAt: number,
  durationMs: number,
  outcome: Outcome,
  exitCode: number,
  instances: InstanceReport[],
  details: { command?: string[]; dryRun?: boolean; interruptedBy?: string | null } = {},
): Report {
  return {
    schema: 1,
    runId: run.runId,
    tool: { name: 'safeupdate', version: run.toolVersion },
    client: run.lxd?.dialect.client ?? 'lxc',
    startedAt: new Date(startedAt).toISOString(),
    durationMs,
    outcome,
    exitCode,
    interruptedBy: details.interruptedBy ?? null,
    command: details.command ?? [],
    dryRun: details.dryRun ?? false,
    runDir: run.runDir,
    instances,
  };
}

/**
 * The outcome of a run over several instances: the first of `worstFirst` that any of them had; the
 * mildest (the last) when there are none. An outcome missing from the order is a bug, thrown: read
 * as the mildest, a fleet whose every instance was refused would say `updated`.
 */
export function worstOutcome(instances: InstanceReport[], worstFirst: Outcome[]): Outcome {
  const unknown = instances.find((item) => !worstFirst.includes(item.outcome));
  if (unknown) throw new Error(`outcome "${unknown.outcome}" is not in the order ${worstFirst.join(', ')}`);
  return worstFirst.find((candidate) => instances.some((item) => item.outcome === candidate)) ?? worstFirst.at(-1)!;
}
