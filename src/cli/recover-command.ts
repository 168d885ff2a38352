// recover: finishing the job of a run that was killed. Loaded when the command runs (main.ts), not
// at every start: it brings the rollback and the record and lease machinery with it.
import { systemClock } from '../checks/probe.js';
import { loadConfig, settingsFor } from '../config/config-file.js';
import { stateDir } from '../config/paths.js';
import { serverScope } from '../lxd/dialect.js';
import { parseInstanceRef } from '../lxd/names.js';
import { EXIT } from '../report/exit-codes.js';
import { chooseRun, recoverInstance, recoveryPlan } from '../run/recover.js';
import { hostId } from '../state/host-id.js';
import { InstanceRecordFile } from '../state/instance-record.js';
import { leaseLengthMs } from '../state/lease-profile.js';
import { ServerLease } from '../state/server-lease.js';
import { confirm } from './confirm.js';
import type { Io } from './io.js';
import { resolveChecks } from './run-options.js';
import { INTERRUPT_RESTORE, lxdFor, withRun, type OutputFlags } from './shared.js';

/** Recovers the instance (or, with --forget, drops its record); returns the exit code. */
export async function recoverCommand(io: Io, instance: string, flags: { project?: string; check: string[]; forget?: boolean; yes?: boolean } & OutputFlags): Promise<number> {
  const checks = resolveChecks(flags.check, settingsFor(await loadConfig(flags.config), instance));
  // The record is keyed by the remote and project the client uses: resolve them as a run does.
  const lxd = lxdFor(io);
  const ref = await lxd.resolveRef(parseInstanceRef(instance, flags.project ?? null));
  const file = new InstanceRecordFile(stateDir(io.env), ref, serverScope(lxd.dialect, ref.remote, io.env));
  // A run on another host leaves no record here, only its lease on the server.
  const lease = new ServerLease(lxd, ref, systemClock, leaseLengthMs(io.env));
  if (flags.forget) return forgetRecord(io, file, lease, instance, flags.yes ?? false);
  // The plan shown is the one recover will follow: this host's record as checked against the lease (a refusal is recover's to report).
  const { record, outdated } = chooseRun(await file.read(), await lease.read(), ref, await hostId(stateDir(io.env)));
  if (outdated) io.stderr(`${instance}: ${outdated}\n`);
  if (record) {
    io.stderr(`${instance}: ${recoveryPlan(record)}\n`);
    const answer = await confirm(`Recover ${instance}?`, { yes: flags.yes ?? false, terminal: io.terminal });
    if (answer !== 'yes') {
      io.stderr(`${answer === 'no' ? 'Not recovered' : 'Cancelled'}; nothing changed.\n`);
      return answer === 'no' ? EXIT.ok : EXIT.interruptedByUser;
    }
  }
  return withRun(io, flags, { label: `recover-${ref.name}`, onInterrupt: INTERRUPT_RESTORE }, (context) => recoverInstance(ref, checks, context));
}

async function forgetRecord(io: Io, file: InstanceRecordFile, lease: ServerLease, instance: string, yes: boolean): Promise<number> {
  io.stderr(
    `${instance}: the record ${file.path} and the server lease (profile ${lease.profile.name}) (if its run is gone) will be removed; the instance is not touched. ` +
      `Check the instance first (safeupdate snapshots ${instance}, ${lxdFor(io).dialect.client} info ${instance}).\n`,
  );
  const answer = await confirm(`Forget the record of ${instance}?`, { yes, terminal: io.terminal });
  if (answer !== 'yes') {
    io.stderr(`${answer === 'no' ? 'Not forgotten' : 'Cancelled'}; nothing changed.\n`);
    return answer === 'no' ? EXIT.ok : EXIT.interruptedByUser;
  }
  const result = await file.forget();
  io.stderr(result === 'forgotten' ? `${instance}: record removed.\n` : `${instance}: there was no record.\n`);
  const forgotten = await lease.forget(await hostId(stateDir(io.env)));
  if (forgotten === 'unreadable') io.stderr(`${instance}: unreadable server lease ${lease.profile.name} removed.\n`);
  else if (forgotten) io.stderr(`${instance}: server lease ${lease.profile.name} of run ${forgotten.runId} (host ${forgotten.host}) removed.\n`);
  return EXIT.ok;
}
