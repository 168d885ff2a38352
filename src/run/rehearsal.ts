import type { CheckDefinition } from '../checks/check.js';
import { IP_PLACEHOLDER } from '../checks/address.js';
import { readFile } from 'node:fs/promises';
import type { DeviceConfig, InstanceRef, Lxd } from '../lxd/lxd.js';
import { formatRef, formatRefWithProject } from '../lxd/names.js';
import { emptyInstanceReport, type InstanceReport, type RehearsalReport } from '../report/report.js';
import { failedUnitsOf, requiredFailure, runChecks, soak } from './steps/checks.js';
import { mark } from './steps/lock.js';
import { gib } from './steps/preflight.js';
import { restartWhenDue } from './steps/restart.js';
import { beginGroup, endGroup, runScope, step, warn, type RunScope } from './steps/scope.js';
import { describeUpdateFailure, runUpdateCommand } from './steps/update.js';
import type { Failure, RehearseMode, RunContext, RunOptions } from './types.js';

/** The config key that makes a copy safeupdate's own: only a copy carrying this run's id is ever deleted. */
export const REHEARSAL_MARKER = 'user.safeupdate.rehearsal';

// The CLI names the mode by this path; the type itself lives with the run's options.

const MAX_NAME = 63;
/** The shortest run id kept in a name: its random tail, which tells two runs of one second apart. */
const MIN_ID = 4;

/**
 * `<name>-rehearsal-<runId>` as a valid instance name: lower case, [a-z0-9-], at most 63
 * characters. A run id too long for that loses its label (the instance's name, already in front),
 * then its front (its end is random); the instance name is cut last.
 */
export function rehearsalName(instance: string, runId: string): string {
  const id = runId.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const room = MAX_NAME - instance.length - '-rehearsal-'.length;
  // A run id is `<UTC stamp>-<label>-<random>` (cli/shared.ts).
  const unlabelled = id.replace(/^(\d{8}t\d{6}z)-.+-([0-9a-f]+)$/, '$1-$2');
  const shortId = [id, unlabelled].find((candidate) => candidate.length <= room) ?? unlabelled.slice(-Math.max(room, MIN_ID)).replace(/^-+/, '');
  const base = instance.slice(0, MAX_NAME - '-rehearsal-'.length - shortId.length).replace(/-+$/, '');
  return `${base}-rehearsal-${shortId}`;
}

/**
 * The devices that would clash with the real instance, laid over for the copy: a proxy listens on
 * the same host port (masked: type `none`, which also masks a profile's device), or with
 * `bind=instance` reaches a host service on the real instance's behalf (the snapshot hook's reaches
 * LXD's API with the instance's certificate), so it is masked too; a NIC with a
 * static address or MAC gets the same NIC without them; a disk from the host or a volume, not
 * read-only, is mounted read-only so that the copy cannot write the real instance's data.
 */
export function neutraliseDevices(devices: Record<string, DeviceConfig>): { devices: Record<string, DeviceConfig>; changes: string[] } {
  const overrides: Record<string, DeviceConfig> = {};
  const changes: string[] = [];
  for (const [name, device] of Object.entries(devices)) {
    if (device.type === 'proxy') {
      overrides[name] = { type: 'none' };
      const why = device.bind === 'instance' ? `it would reach ${device.connect ?? 'the host'} on the real instance's behalf` : 'it would listen on the same host port';
      changes.push(`proxy ${name} (${device.listen ?? 'listen ?'}) masked: ${why}`);
    } else if (device.type === 'nic') {
      const pinned = ['ipv4.address', 'ipv6.address', 'hwaddr'].filter((key) => device[key]);
      if (!pinned.length) continue;
      overrides[name] = Object.fromEntries(Object.entries(device).filter(([key]) => !pinned.includes(key)));
      changes.push(`nic ${name} without ${pinned.join(', ')}: the real instance holds them`);
    } else if (device.type === 'disk' && device.path !== '/' && device.source && !['true', '1', 'yes', 'on'].includes(device.readonly ?? '')) {
      overrides[name] = { ...device, readonly: 'true' };
      changes.push(`disk ${name} (${device.source} on ${device.path}) read-only: it is shared with the real instance`);
    }
  }
  return { devices: overrides, changes };
}

/**
 * Which checks can judge the copy: in-container ones, and host-side ones that name the instance by
 * `{ip}`. A host-side check at a fixed address reaches the real instance (or nothing), not the copy.
 */
export function splitChecks(checks: CheckDefinition[]): { onCopy: CheckDefinition[]; notOnCopy: Array<{ name: string; reason: string }> } {
  const onCopy: CheckDefinition[] = [];
  const notOnCopy: Array<{ name: string; reason: string }> = [];
  for (const check of checks) {
    const { spec } = check;
    const target = spec.kind === 'http' ? spec.url : spec.kind === 'tcp' ? spec.host : null;
    if (target === null || target.includes(IP_PLACEHOLDER)) onCopy.push(check);
    else notOnCopy.push({ name: check.name, reason: `${spec.kind} from the host to a fixed address (${target}), which is not the copy` });
  }
  return { onCopy, notOnCopy };
}

/**
 * Whether a rehearsal may start on this pool, before anything changes: on `dir` a copy is a full
 * copy of the root filesystem, so it takes `force`, and then must fit beside the snapshot.
 */
export function refuseRehearsal(mode: RehearseMode, space: InstanceReport['space'], instance: string): string | null {
  if (mode === 'off' || !space || space.driver !== 'dir') return null;
  if (mode === 'on') {
    return `--rehearse on ${instance}: its pool ${space.pool} is a dir pool, where the rehearsal's copy is a full copy of the root filesystem (slow, and as large again); nothing changed. Use --rehearse=force to copy anyway, or move the instance to a btrfs or zfs pool`;
  }
  // The snapshot and the copy each copy the whole root filesystem there.
  if (space.neededBytes !== null && space.freeBytes !== null && 2 * space.neededBytes > space.freeBytes) {
    return `--rehearse=force on ${instance}: the snapshot and the copy would need ${gib(2 * space.neededBytes)} on the dir pool ${space.pool}, which has ${gib(space.freeBytes)} free; nothing changed`;
  }
  return null;
}

/** The plan's lines for a rehearsal that `refuseRehearsal` lets through. */
export function describeRehearsal(mode: RehearseMode, space: InstanceReport['space'], instance: string, checks: CheckDefinition[]): string[] {
  if (mode === 'off') return [];
  const { onCopy, notOnCopy } = splitChecks(checks);
  return [
    `rehearse first: copy the snapshot to ${instance}-rehearsal-<run id> (marked ${REHEARSAL_MARKER}, clashing devices masked), start it, run the command and ${onCopy.length ? `the checks (${onCopy.map((c) => c.name).join(', ')})` : 'no checks (only the exit code decides)'} on it, delete it; update ${instance} only if the copy ends healthy`,
    ...notOnCopy.map((check) => `not on the copy: check ${check.name} (${check.reason})`),
    ...(space?.driver === 'dir' && space.neededBytes === null ? ['the copy on the dir pool copies the whole root filesystem; LXD reports no usage, so whether it fits cannot be told'] : []),
  ];
}

export type RehearsalEnd = { ok: true } | { ok: false; outcome: 'refused-by-rehearsal' | 'not-started' | 'interrupted'; failure: Failure };

/**
 * The rehearsal: the command and the checks on a throw-away copy of the snapshot, then the copy
 * deleted (or kept stopped with --keep-failed when it failed). The real instance is never touched
 * here; ok means the copy ended healthy. Its evidence is in `item.rehearsal`.
 */
export async function rehearse(
  options: RunOptions,
  context: RunContext,
  scope: RunScope,
  item: InstanceReport,
  run: { ref: InstanceRef; snapshot: string; checks: CheckDefinition[]; passedAtBaseline: string[] },
): Promise<RehearsalEnd> {
  const { lxd, interrupt, runId } = context;
  const name = rehearsalName(run.ref.name, runId);
  const copyRef: InstanceRef = { ...run.ref, name };
  const copyItem = emptyInstanceReport(formatRef(copyRef), copyRef.project);
  const copy = runScope(context, copyItem, copyRef);
  // What passed at baseline is all the real instance proved; the copy is held to the same.
  const { onCopy, notOnCopy } = splitChecks(run.checks.filter((check) => run.passedAtBaseline.includes(check.name)));
  const report: RehearsalReport = {
    copy: name, devices: [], checksOnCopy: onCopy.map((c) => c.name), checksNotOnCopy: notOnCopy, verdict: 'inconclusive', message: '',
    update: copyItem.update, logTail: [], checks: copyItem.checks, steps: copyItem.steps, warnings: copyItem.warnings, copyDeleted: false, copyKept: false,
  };
  item.rehearsal = report;
  const conclude = (verdict: RehearsalReport['verdict'], message: string) => Object.assign(report, { verdict, message });

  // A crash from here on may leave the copy: the record names it, so that `recover` can remove it.
  const unrecorded = await mark(scope, { rehearsalCopy: name });
  if (unrecorded) return { ok: false, outcome: 'not-started', failure: { step: 'rehearsal', message: `${unrecorded}; not making a copy that a crash could leave unaccounted for; nothing was updated` } };
  beginGroup(scope, `Rehearse on ${name}`, ['rehearsal-copy', 'rehearsal-start', 'baseline', 'update', ...(options.restart === 'never' ? [] : ['restart']), 'after-update', ...(options.soakMs === null ? [] : ['soak']), 'rehearsal-stop', 'rehearsal-delete']);
  let created = false;
  try {
    const made = await step(copy, 'rehearsal-copy', `Copy ${run.snapshot} to ${name}`, async () => {
      const instance = await lxd.getInstance(run.ref);
      const neutral = neutraliseDevices(instance?.devices ?? {});
      report.devices = neutral.changes;
      // No scheduled snapshots of a copy: a kept one would gather them.
      const config = { [REHEARSAL_MARKER]: runId, 'boot.autostart': 'false', 'snapshots.schedule': '' };
      await lxd.copyFromSnapshot(run.ref, run.snapshot, name, { config, devices: neutral.devices });
      created = true;
      return { message: neutral.changes.length ? `${neutral.changes.length} device(s) masked or rebound` : 'no clashing devices' };
    });
    if (!made.ok) {
      // A failed create may still have left an instance behind (a timeout): the marker tells.
      created = true;
      return { ok: false, outcome: 'not-started', failure: { step: 'rehearsal', message: `could not copy ${run.snapshot} to ${name}: ${made.message}; nothing was updated` } };
    }
    if (interrupt.aborted) return interrupted();
    const started = await step(copy, 'rehearsal-start', `Start ${name}`, async () => {
      await lxd.startInstance(copyRef);
      return { message: 'running' };
    });
    if (!started.ok) return inconclusive(`the copy ${name} did not start: ${started.message}`);
    if (interrupt.aborted) return interrupted();
    // The copy has just booted: its services must come up before the update, as the real ones are.
    const before = await runChecks(copy, 'baseline', onCopy, []);
    if (interrupt.aborted) return interrupted();
    const unhealthy = requiredFailure('baseline', before);
    if (unhealthy) return inconclusive(`the copy ${name} was unhealthy before the update (${unhealthy.message}), so it cannot judge the update`);

    const updated = await runUpdateCommand(copy, options);
    report.logTail = await readTail(copyItem.update.logFile);
    // A command that never ran says nothing about the update.
    if ('step' in updated) return interrupt.aborted ? interrupted() : inconclusive(`on the copy ${name}: ${updated.message}`);
    let failure = describeUpdateFailure(updated, options, interrupt);
    if (interrupt.aborted) return interrupted();
    // The copy restarts as the real instance will: an update that breaks only at the next start fails here first.
    if (!failure) failure = await restartWhenDue(copy, options.restart);
    if (copyItem.restart) report.restart = copyItem.restart;
    if (interrupt.aborted) return interrupted();
    if (!failure) {
      const after = await runChecks(copy, 'after-update', onCopy, failedUnitsOf(before));
      if (interrupt.aborted) return interrupted();
      failure = requiredFailure('after-update', after);
    }
    // With --soak the copy soaks first: a service that dies late, or loops, costs the real instance nothing either.
    if (!failure && options.soakMs !== null) {
      failure = await soak(copy, onCopy, options.soakMs, failedUnitsOf(before));
      if (interrupt.aborted) return interrupted();
    }
    if (failure) {
      conclude('failed', failure.message);
      return {
        ok: false,
        outcome: 'refused-by-rehearsal',
        failure: { step: 'rehearsal', message: `the update failed on the copy ${name} (${failure.message}); ${formatRef(run.ref)} was not touched, it is as healthy as at baseline; nothing was updated` },
      };
    }
    conclude('healthy', `the update passed on the copy ${name}${notOnCopy.length ? ` (not judged there: ${notOnCopy.map((c) => c.name).join(', ')})` : ''}`);
    return { ok: true };
  } finally {
    if (created) await removeCopy();
    endGroup(scope);
  }

  function inconclusive(message: string): RehearsalEnd {
    conclude('inconclusive', message);
    return { ok: false, outcome: 'not-started', failure: { step: 'rehearsal', message: `${message}; nothing was updated` } };
  }

  function interrupted(): RehearsalEnd {
    const message = `interrupted by ${String(interrupt.reason)} during the rehearsal on ${name}`;
    conclude('interrupted', message);
    return { ok: false, outcome: 'interrupted', failure: { step: 'rehearsal', message: `${message}; ${formatRef(run.ref)} was not touched; nothing was updated` } };
  }

  async function removeCopy(): Promise<void> {
    const kept = options.keepFailed && report.verdict === 'failed';
    const end = await disposeCopy(copy, lxd, copyRef, runId, kept);
    report.copyDeleted = end === 'deleted' || end === 'gone';
    report.copyKept = end === 'kept';
    if (end === 'kept') item.keptFailedCopy = name;
    const warning = describeDisposal(end, copyRef, lxd.dialect.client);
    if (warning) warn(scope, warning);
    if (report.copyDeleted) {
      const unrecorded = await mark(scope, { rehearsalCopy: null });
      if (unrecorded) warn(scope, `${unrecorded}: the record still names the deleted copy ${name}`);
    }
  }
}

export type Disposal = 'deleted' | 'gone' | 'kept' | 'kept-running' | 'foreign' | 'failed';

/**
 * Stops a rehearsal copy and deletes it, only while it carries this run's marker: one whose marker
 * was changed is someone else's now and is not even stopped. `keep`: stopped, not deleted.
 */
export async function disposeCopy(scope: RunScope, lxd: Lxd, copyRef: InstanceRef, runId: string, keep: boolean): Promise<Disposal> {
  const marker = { key: REHEARSAL_MARKER, value: runId };
  const stopped = await step(scope, 'rehearsal-stop', `Stop ${copyRef.name}`, async () => {
    const instance = await lxd.getInstance(copyRef);
    if (!instance) return { message: 'not there', end: 'gone' as const };
    if ((await lxd.getConfig(copyRef))[REHEARSAL_MARKER] !== runId) return { message: `left alone: ${REHEARSAL_MARKER} is not ${runId}`, end: 'foreign' as const };
    if (instance.status !== 'Stopped') await lxd.stopInstance(copyRef, { force: true });
    return { message: 'stopped', end: null };
  });
  if (!stopped.ok) return keep ? 'kept-running' : 'failed';
  if (stopped.value.end) return stopped.value.end;
  if (keep) return 'kept';
  const deleted = await step(scope, 'rehearsal-delete', `Delete ${copyRef.name}`, async () => {
    const result = await lxd.deleteMarkedInstance(copyRef, marker);
    if (result.deleted) return { message: 'deleted', end: 'deleted' as const };
    if (result.gone) return { message: 'not there', end: 'gone' as const };
    return { message: `left alone: ${REHEARSAL_MARKER} is ${result.found === null ? 'not set' : `"${result.found}"`}, not ${runId}`, end: 'foreign' as const };
  });
  return deleted.ok ? deleted.value.end : 'failed';
}

/** What a human must know about a copy that was not deleted; null when there is nothing to do. */
export function describeDisposal(end: Disposal, copyRef: InstanceRef, client: string): string | null {
  const name = formatRefWithProject(copyRef);
  switch (end) {
    case 'deleted':
    case 'gone':
    case 'kept':
      // A kept copy is in the report's own line, with the command that deletes it.
      return null;
    case 'kept-running':
      return `the failed copy ${copyRef.name} is kept for a post-mortem (--keep-failed), but could not be stopped; stop it: ${client} stop --force ${name}`;
    case 'foreign':
      return `the rehearsal copy ${copyRef.name} was left alone: it does not carry this run's ${REHEARSAL_MARKER} (changed by hand, or never this run's), so it is not safeupdate's to stop or delete. If nobody needs it: ${client} delete --force ${name}`;
    case 'failed':
      return `the rehearsal copy ${copyRef.name} could not be stopped or deleted (see the steps); it still exists, perhaps running. Delete it: ${client} delete --force ${name}`;
  }
}

/** The last lines of the copy's update log: the evidence a refusal is read by. */
async function readTail(file: string | null): Promise<string[]> {
  if (!file) return [];
  try {
    // Progress redraws its line with \r: only what was left on screen counts.
    return (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => line.split('\r').at(-1)!).slice(-20);
  } catch {
    return [];
  }
}
