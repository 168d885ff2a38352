import { Command } from 'commander';
import { EXPIRY_LIMIT, parseDuration } from '../config/duration.js';
import { loadConfig, settingsFor } from '../config/config-file.js';
import { LxdError, UsageError } from '../errors.js';
import { requireFeatures, serverLabel } from '../lxd/extensions.js';
import type { InstanceRef, Snapshot } from '../lxd/lxd.js';
import { formatRef, parseInstanceRef, SNAPSHOT_PREFIX, validateSnapshotName } from '../lxd/names.js';
import { EXIT } from '../report/exit-codes.js';
import { MissingInstance, planPrune, pruneLocked, type PruneOutcome, type PrunePlan } from '../snapshots/prune.js';
import { stateDir } from '../config/paths.js';
import type { RetentionRules } from '../snapshots/retention.js';
import { SCHEDULE_KEYS, scheduleConfig, scheduleFeatures, scheduleOff } from '../snapshots/schedule.js';
import { confirm } from './confirm.js';
import { parseRemoteTarget, refuseCopyToSource, resolveChecks } from './run-options.js';
import { chooseInstances, groupsFor, usesSelection, withSelectionOptions, type SelectionFlags } from './selection-options.js';
import { collect, INTERRUPT_RESTORE, lxdFor, wholeNumber, withOutputOptions, withRun, type OutputFlags } from './shared.js';
import type { Io } from './io.js';


/** snapshots, prune, rollback, sync, schedule: the snapshot lifecycle, so that nobody types a dangerous `lxc delete`. */
export function addSnapshotCommands(program: Command, io: Io, trailing: string[] | null, setExitCode: (code: number) => void): void {
  const noCommand = (name: string) => {
    if (trailing !== null) throw new UsageError(`${name} takes no command after "--"`);
  };

  program
    .command('snapshots')
    .description('list the snapshots of an instance: taken at, expires at, size, and whether safeupdate made it')
    .argument('<instance>', '[remote:]name')
    .option('--project <name>', 'the LXD project of the instance')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  safeupdate snapshots web1\n  safeupdate snapshots backup:db1 --project prod --json')
    .action(async (instance: string, flags: { project?: string; json?: boolean }) => {
      noCommand('snapshots');
      const ref = parseInstanceRef(instance, flags.project ?? null);
      const lxd = lxdFor(io);
      const found = await readOrExit3(io, async () => {
        await lxd.checkReachable(ref.remote);
        if (!(await lxd.getInstance(ref))) throw new MissingInstance(`instance ${instance} does not exist`);
        return lxd.listSnapshots(ref);
      });
      if (!found) return setExitCode(EXIT.couldNotStart);
      const rows = found.map((s) => ({ ...s, madeBySafeupdate: s.name.startsWith(SNAPSHOT_PREFIX) }));
      io.stdout(flags.json ? `${JSON.stringify({ instance, snapshots: rows }, null, 2)}\n` : renderSnapshots(instance, rows, (await import('../report/text-width.js')).padEndTo));
      setExitCode(EXIT.ok);
    });

  withSelectionOptions(program
    .command('prune')
    .description('delete old snapshots that safeupdate made (safeupdate-*), never the instance and never other snapshots')
    .argument('[instances...]', '[remote:]name, or @group from the config file; running or stopped')
    .option('--project <name>', 'the LXD project of the instances')
    .option('--config <file>', 'config file, for @group (default ./safeupdate.yaml, then /etc/safeupdate/config.yaml)'), 'instance, running or stopped,')
    .option('--keep-last <n>', 'keep the n newest', wholeNumber('--keep-last'))
    .option('--keep-daily <n>', 'keep the newest of each of the last n days (UTC)', wholeNumber('--keep-daily'))
    .option('--keep-weekly <n>', 'keep the newest of each of the last n ISO weeks', wholeNumber('--keep-weekly'))
    .option('--keep-monthly <n>', 'keep the newest of each of the last n months', wholeNumber('--keep-monthly'))
    .option('--older-than <duration>', 'delete only snapshots older than this')
    .option('--dry-run', 'say what would be deleted; delete nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  safeupdate prune web1 --keep-last 3 --dry-run\n  safeupdate prune web1 db1 --keep-daily 7 --keep-weekly 4 --older-than 30d --yes\n  safeupdate prune --all --exclude db1 --keep-last 5 --yes\n\nA snapshot is deleted only when no keep rule keeps it and, with --older-than, it is older than that.\nAn instance with a run in progress, or a crashed run awaiting recovery, is skipped.\nExit codes: 0 done (or nothing to do), 1 a deletion failed or an instance was skipped, 2 bad input or no confirmation, 3 an instance is missing or LXD unreachable.')
    .action(async (instances: string[], flags: PruneFlags) => {
      noCommand('prune');
      const rules: RetentionRules = {
        ...(flags.keepLast ? { keepLast: flags.keepLast } : {}),
        ...(flags.keepDaily ? { keepDaily: flags.keepDaily } : {}),
        ...(flags.keepWeekly ? { keepWeekly: flags.keepWeekly } : {}),
        ...(flags.keepMonthly ? { keepMonthly: flags.keepMonthly } : {}),
        ...(flags.olderThan ? { olderThanMs: parseDuration(flags.olderThan, '--older-than', EXPIRY_LIMIT) } : {}),
      };
      if (Object.keys(rules).length === 0) throw new UsageError('prune needs at least one rule: --keep-last, --keep-daily, --keep-weekly, --keep-monthly or --older-than');
      const lxd = lxdFor(io);
      const groups = await groupsFor(instances, flags.config);
      // Any instance, running or stopped, has snapshots to prune.
      const selection = await readOrExit3(io, () => chooseInstances(lxd, instances, flags, groups, () => null));
      if (!selection) return setExitCode(EXIT.couldNotStart);
      // One that was named and is not there: nothing is deleted anywhere, as when planning finds it missing.
      for (const item of selection.notStarted) io.stderr(`safeupdate: ${item.instance}: ${item.error?.message ?? 'not found'}; nothing deleted\n`);
      if (selection.notStarted.length) return setExitCode(EXIT.couldNotStart);
      const refs = selection.targets.map((target) => target.ref);
      const plans = await readOrExit3(io, () => Promise.all(refs.map((ref) => planPrune(lxd, ref, rules, new Date()))));
      if (!plans) return setExitCode(EXIT.couldNotStart);
      const doomed = plans.flatMap((plan) => plan.decisions.filter((d) => !d.keep).map((d) => `${plan.instance}/${d.snapshot.name}`));
      io.stderr(renderPrunePlan(plans, flags.dryRun ?? false));
      if (flags.dryRun || doomed.length === 0) {
        if (flags.json) io.stdout(`${JSON.stringify({ dryRun: flags.dryRun ?? false, wouldDelete: doomed }, null, 2)}\n`);
        return setExitCode(EXIT.ok);
      }
      const answer = await confirm(`Delete ${doomed.length} snapshot(s)`, { yes: flags.yes ?? false, terminal: io.terminal });
      if (answer !== 'yes') {
        io.stderr(`${answer === 'no' ? 'Nothing deleted' : 'Cancelled; nothing deleted'}.\n`);
        return setExitCode(answer === 'no' ? EXIT.ok : EXIT.interruptedByUser);
      }
      const outcomes: PruneOutcome[] = [];
      const runId = `prune-${process.pid}-${Date.now()}`;
      for (const plan of plans) outcomes.push(await pruneLocked(lxd, plan, stateDir(io.env), runId));
      io.stdout(flags.json ? `${JSON.stringify({ dryRun: false, instances: outcomes }, null, 2)}\n` : renderPruneOutcome(outcomes));
      setExitCode(outcomes.some((o) => o.failed.length || o.skipped) ? EXIT.failedCleanly : EXIT.ok);
    });

  withOutputOptions(
    program
      .command('rollback')
      .description('restore a snapshot by hand (default: the newest one safeupdate took), then check; a stopped instance stays stopped unless --start')
      .argument('<instance>', '[remote:]name')
      .argument('[snapshot]', 'the snapshot, by its bare name')
      .option('--project <name>', 'the LXD project of the instance')
      .option('--start', 'start a stopped instance after the restore')
      .option('--check <spec>', 'health check after the restore, repeatable; replaces the configured checks', collect, [])
      .option('--yes', 'do not ask for confirmation'),
  )
    .addHelpText('after', '\nExamples:\n  safeupdate rollback web1                      # pick a snapshot (in a terminal), confirm\n  safeupdate rollback web1 safeupdate-20261126-101500 --yes\n  safeupdate rollback web1 before-migration --start --yes\n\nExit codes: 0 restored (and healthy if running), 2 bad input or no confirmation, 3 no such instance or snapshot, 4 the restore failed or the instance is unhealthy after it.')
    .action(async (instance: string, snapshot: string | undefined, flags: { project?: string; start?: boolean; check: string[]; yes?: boolean } & OutputFlags) => {
      noCommand('rollback');
      const ref = parseInstanceRef(instance, flags.project ?? null);
      if (snapshot !== undefined) validateSnapshotName(snapshot);
      const checks = resolveChecks(flags.check, settingsFor(await loadConfig(flags.config), instance));
      const chosen = snapshot ?? (await chooseSnapshot(io, ref, flags.yes ?? false));
      if (chosen === null) return setExitCode(EXIT.couldNotStart);
      if (chosen === undefined) return setExitCode(EXIT.interruptedByUser);
      const answer = await confirm(`Restore ${instance} to ${chosen}? Changes made since are lost`, { yes: flags.yes ?? false, terminal: io.terminal });
      if (answer !== 'yes') {
        io.stderr(`${answer === 'no' ? 'Not restored' : 'Cancelled'}; nothing changed.\n`);
        return setExitCode(answer === 'no' ? EXIT.ok : EXIT.interruptedByUser);
      }
      // The restore and the checks load when they run, not at every start (--help too).
      const { manualRollback } = await import('../run/manual-rollback.js');
      setExitCode(await withRun(io, flags, { label: `rollback-${ref.name}`, onInterrupt: INTERRUPT_RESTORE }, (context) => manualRollback(ref, chosen, { start: flags.start ?? false, checks }, context)));
    });

  withOutputOptions(withSelectionOptions(
    program
      .command('sync')
      .description('refresh instances with their snapshots to a snapshot server (copy --refresh), reporting what was sent')
      .argument('[args...]', '<instance>... <remote>: (instances as [remote:]name, or @group from the config file)')
      .option('--project <name>', 'the LXD project of the instances'),
    'instance, running or stopped,',
  ))
    .addHelpText('after', '\nExamples:\n  safeupdate sync web1 db1 backup:\n  safeupdate sync backup: --all --exclude scratch1   (--all takes a remote: name the server first)\n\nExit codes: 0 all copied, 1 a copy failed, 2 bad input, 3 could not start (an instance missing, the source or the server unreachable).')
    .action(async (args: string[], flags: SelectionFlags & OutputFlags) => {
      noCommand('sync');
      const names = args.slice(0, -1);
      if (args.length === 0 || (names.length === 0 && !usesSelection(names, flags))) {
        throw new UsageError(`sync needs at least one instance and a snapshot server: safeupdate sync <instance>... <remote>:${flags.all ? ' (with --all, name the server first: safeupdate sync backup: --all)' : ''}`);
      }
      const remote = parseRemoteTarget(args.at(-1), 'snapshot server')!;
      const groups = await groupsFor(names, flags.config);
      const { syncInstances } = await import('../run/sync.js');
      setExitCode(await withRun(io, flags, { label: `sync-${remote}`, onInterrupt: 'finishing the copy in progress (LXD would go on with it anyway), then stopping' }, async (context) => {
        // Stopped instances are copied too.
        const selection = await chooseInstances(context.lxd, names, flags, groups, () => null);
        const refs = selection.targets.map((target) => target.ref);
        await refuseCopyToSource(context.lxd, refs, remote, 'snapshot server');
        return syncInstances(refs, remote, context, selection.notStarted);
      }));
    });

  program
    .command('schedule')
    .description("set LXD's own automatic snapshots of an instance (snapshots.schedule, snapshots.expiry, snapshots.pattern)")
    .argument('<instance>', '[remote:]name')
    .option('--project <name>', 'the LXD project of the instance')
    .option('--every <schedule>', 'cron expression ("0 3 * * *") or @hourly, @daily, @weekly, @monthly')
    .option('--expiry <duration>', 'how long LXD keeps each automatic snapshot (14d, 2w, 36h)')
    .option('--pattern <pattern>', 'LXD snapshot name pattern, like auto-%d (not starting with safeupdate-)')
    .option('--off', 'remove the schedule, expiry and pattern')
    .addHelpText('after', '\nExamples:\n  safeupdate schedule web1 --every @daily --expiry 14d --pattern auto-%d\n  safeupdate schedule web1 --every "0 3 * * 1-5" --expiry 36h\n  safeupdate schedule web1 --off\n\nExit codes: 0 set (the result is shown), 2 bad input (nothing set), 3 no such instance or LXD unreachable.')
    .action(async (instance: string, flags: { project?: string; every?: string; expiry?: string; pattern?: string; off?: boolean }) => {
      noCommand('schedule');
      const ref = parseInstanceRef(instance, flags.project ?? null);
      if (flags.off && (flags.every || flags.expiry || flags.pattern)) throw new UsageError('--off takes no --every, --expiry or --pattern');
      if (!flags.off && !flags.every) throw new UsageError('schedule needs --every <schedule>, or --off');
      const entries = flags.off ? scheduleOff() : scheduleConfig({ every: flags.every!, ...(flags.expiry ? { expiry: flags.expiry } : {}), ...(flags.pattern ? { pattern: flags.pattern } : {}) });
      const lxd = lxdFor(io);
      const config = await readOrExit3(io, async () => {
        requireFeatures(await lxd.checkReachable(ref.remote), scheduleFeatures(entries), serverLabel(ref.remote));
        if (!(await lxd.getInstance(ref))) throw new MissingInstance(`instance ${instance} does not exist`);
        await lxd.setConfig(ref, entries);
        return lxd.getConfig(ref);
      });
      if (!config) return setExitCode(EXIT.couldNotStart);
      io.stdout(`${instance}:\n${SCHEDULE_KEYS.map((key) => `  ${key.padEnd(19)} ${config[key] || '(not set)'}`).join('\n')}\n`);
      setExitCode(EXIT.ok);
    });
}

interface PruneFlags extends SelectionFlags {
  config?: string;
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  olderThan?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Runs LXD reads; a missing instance or an unreachable LXD is reported and yields null (exit 3). */
async function readOrExit3<T>(io: Io, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof MissingInstance || error instanceof LxdError) {
      io.stderr(`safeupdate: ${error.message}\n`);
      return null;
    }
    throw error;
  }
}

/** The snapshot to go back to: the newest one safeupdate took, or, in a terminal, the one picked. undefined: cancelled. */
async function chooseSnapshot(io: Io, ref: InstanceRef, yes: boolean): Promise<string | null | undefined> {
  const lxd = lxdFor(io);
  const snapshots = await readOrExit3(io, async () => {
    if (!(await lxd.getInstance(ref))) throw new MissingInstance(`instance ${formatRef(ref)} does not exist`);
    return lxd.listSnapshots(ref);
  });
  if (!snapshots) return null;
  const newest = (await import('../run/manual-rollback.js')).newestOwnSnapshot(snapshots);
  if (!io.terminal || yes || snapshots.length === 0) {
    if (!newest) io.stderr(`safeupdate: ${formatRef(ref)} has no snapshot taken by safeupdate; name one: safeupdate rollback ${formatRef(ref)} <snapshot>\n`);
    return newest?.name ?? null;
  }
  try {
    const sorted = [...snapshots].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
    // Loaded on first use: only an interactive rollback asks.
    const { default: enquirer } = await import('enquirer');
    const answer = await enquirer.prompt<{ snapshot: string }>({
      type: 'select',
      name: 'snapshot',
      message: `Restore ${formatRef(ref)} to which snapshot?`,
      choices: sorted.map((s) => ({ name: s.name, message: `${s.name}  (taken ${s.createdAt})` })),
      initial: newest ? sorted.indexOf(newest) : 0,
      stdout: process.stderr,
    } as Parameters<typeof enquirer.prompt>[0]);
    return answer.snapshot;
  } catch {
    return undefined;
  }
}

/** `padEndTo` is loaded by the caller on use: string-width is costly to load (see withRun). */
function renderSnapshots(instance: string, rows: Array<Snapshot & { madeBySafeupdate: boolean }>, padEndTo: (text: string, width: number) => string): string {
  if (rows.length === 0) return `${instance}: no snapshots\n`;
  const lines = rows.map((s) => `  ${padEndTo(s.name, 32)} ${s.createdAt.slice(0, 19).replace('T', ' ')}  ${(s.expiresAt?.slice(0, 19).replace('T', ' ') ?? 'never').padEnd(19)}  ${(s.sizeBytes === null ? '-' : `${(s.sizeBytes / 2 ** 20).toFixed(0)} MiB`).padStart(9)}  ${s.madeBySafeupdate ? 'safeupdate' : ''}`);
  return `${instance}:\n  ${'NAME'.padEnd(32)} ${'TAKEN (UTC)'.padEnd(19)}  ${'EXPIRES (UTC)'.padEnd(19)}  ${'SIZE'.padStart(9)}  BY\n${lines.join('\n')}\n`;
}

function renderPrunePlan(plans: PrunePlan[], dryRun: boolean): string {
  return plans
    .map((plan) => `${plan.instance}:\n${plan.decisions.map((d) => `  ${d.keep ? 'keep  ' : dryRun ? 'would delete' : 'delete'} ${d.snapshot.name} (${d.reason})`).join('\n') || '  no snapshots'}\n`)
    .join('');
}

function renderPruneOutcome(outcomes: PruneOutcome[]): string {
  return outcomes
    .map((o) => (o.skipped ? `${o.instance}: skipped, nothing deleted: ${o.skipped}\n` : `${o.instance}: deleted ${o.deleted.length}${o.deleted.length ? ` (${o.deleted.join(', ')})` : ''}, kept ${o.kept.length}${o.failed.map((f) => `\n  could not delete ${f.name}: ${f.message}`).join('')}\n`))
    .join('');
}
