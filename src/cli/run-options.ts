import type { CheckDefinition } from '../checks/check.js';
import { defineCheck } from '../checks/spec.js';
import { parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { ownSnapshotName, parseInstanceRef } from '../lxd/names.js';
import type { RunOptions } from '../run/run-update.js';

/** The run's flags as commander hands them over. */
export interface RunFlags {
  project?: string;
  check: string[];
  force?: boolean;
  snapshotName?: string;
  /** false with --no-expiry. */
  expiry: string | false;
  env: string[];
  timeout: string;
  /** false with --no-rollback. */
  rollback: boolean;
  dryRun?: boolean;
  json?: boolean;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Turns flags into run options, refusing bad input before anything is touched. */
export function toRunOptions(instance: string, command: string[] | null, flags: RunFlags, terminal: boolean): RunOptions {
  if (command === null) throw new UsageError(`missing "--" before the update command, as in: safeupdate ${instance} -- apt-get upgrade -y`);
  if (command.length === 0 || command[0]!.trim() === '') throw new UsageError('the update command after "--" is empty');
  const checks: CheckDefinition[] | null = flags.check.length ? flags.check.map((spec) => defineCheck(spec)) : null;
  const names = new Set<string>();
  for (const check of checks ?? []) {
    if (names.has(check.name)) throw new UsageError(`check "${check.name}" is given twice`);
    names.add(check.name);
  }
  return {
    ref: parseInstanceRef(instance, flags.project ?? null),
    command,
    checks,
    force: flags.force ?? false,
    snapshotName: flags.snapshotName === undefined ? null : ownSnapshotName(flags.snapshotName),
    expiryMs: flags.expiry === false ? null : parseDuration(flags.expiry, '--expiry'),
    env: parseEnv(flags.env),
    timeoutMs: parseDuration(flags.timeout, '--timeout'),
    rollback: flags.rollback,
    dryRun: flags.dryRun ?? false,
    interactive: terminal && !flags.json && !flags.dryRun,
  };
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
