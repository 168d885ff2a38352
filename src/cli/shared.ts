import { join } from 'node:path';
import { Command, Option } from 'commander';
import { systemClock } from '../checks/probe.js';
import { formatDuration, parseDuration, TIMER_LIMIT } from '../config/duration.js';
import { stateDir } from '../config/paths.js';
import { UsageError } from '../errors.js';
import { chooseClient, type Dialect } from '../lxd/dialect.js';
import type { RestApi } from '../lxd/rest.js';
import { LxcClient } from '../lxd/lxc-client.js';
import type { Lxd, LxdCall } from '../lxd/lxd.js';
import type { Report } from '../report/report.js';
import type { RunContext } from '../run/types.js';
import { newRunId, saveReport } from '../state/run-history.js';
import { watchSignals } from './signals.js';
import { version } from '../config/installation.js';
import type { Io } from './io.js';

export { version };

export interface OutputFlags {
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  config?: string;
  /** Also write the report as JUnit XML to this file. */
  junit?: string;
  /** Also write the JSON report to this file. */
  report?: string;
}

export const INTERRUPT_RUN = 'stopping the update and rolling back if it had begun (this takes a few seconds)';
export const INTERRUPT_RESTORE = 'finishing a restore in progress and checking, or stopping if it has not begun';

export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A count option's parser: a whole number of at least 1, else bad input naming the flag. */
export const wholeNumber = (flag: string) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} "${value}": expected a whole number of at least 1`);
  return Number(value);
};

/**
 * A flag and its negation (`--expiry 7d --no-expiry`) both given: commander lets the last one win
 * in silence. Returns the listener for each form's `option:` event; the second form refuses.
 */
export function bothFormsRefused(flag: string, negation: string): (form: string) => () => void {
  const seen = new Set<string>();
  return (form) => () => {
    seen.add(form);
    if (seen.size > 1) throw new UsageError(`${flag} and ${negation} contradict each other: give one`);
  };
}

export function withOutputOptions(command: Command): Command {
  return command
    .option('--config <file>', 'config file (default ./safeupdate.yaml, then /etc/safeupdate/config.yaml)')
    .option('--json', 'print the report as JSON on stdout; everything else goes to stderr')
    .addOption(new Option('-v, --verbose', 'show every LXD call and its duration').conflicts('quiet'))
    .option('-q, --quiet', 'print only the summary and errors')
    .option('--junit <file>', 'also write the report as JUnit XML to this file, for CI test views')
    .option('--report <file>', 'also write the JSON report to this file');
}

/** What every subcommand that reports shares: progress, the LXD client, signals, the run folder, the report. */
export interface RunView {
  /** Part of the run id: the instance, or what the subcommand works on. */
  label: string;
  /** Show the update command's output as it comes. */
  showOutput?: boolean;
  /** What the first SIGINT, SIGTERM or SIGHUP makes this subcommand do, as the operator is told. */
  onInterrupt: string;
  /** The work draws its own lines (a fleet): no task list, even in a terminal. */
  lines?: boolean;
}

/**
 * `work` gets `log`: the Io to write its own lines through. In GitHub Actions its stderr keeps the
 * runner from obeying commands in what the run prints (outputs.ts, CommandGuard).
 */
export async function withRun(io: Io, flags: OutputFlags, view: RunView, work: (context: RunContext, log: Io) => Promise<Report>): Promise<number> {
  // A run's views and outputs load when it starts, not at every start (--help too): the renderers
  // measure text with string-width, which builds an Intl.Segmenter and an emoji regex on load (~30 ms).
  const [{ commandGuard, detectCi, guarded, outputFold, refuseUnwritableOutputs, writeOutputs }, { renderHuman }, { lineProgress }, { taskList }] = await Promise.all([
    import('./outputs.js'), import('../report/human.js'), import('./progress.js'), import('./task-list.js'),
  ]);
  await refuseUnwritableOutputs(flags);
  const { label, showOutput = false } = view;
  const ci = detectCi(io.env);
  const guard = ci === 'github' ? commandGuard(io.stderr) : null;
  const log: Io = guard ? { ...io, stderr: guard.text } : io;
  const progress = lineProgress({
    write: log.stderr, mark: guard?.command ?? io.stderr, verbose: flags.verbose ?? false, quiet: flags.quiet ?? false, showOutput, fold: outputFold(ci),
  });
  // In a terminal, the live task list; with --verbose, --quiet or --json, and without a terminal, lines.
  const list = io.terminal && !view.lines && !flags.verbose && !flags.quiet && !flags.json ? taskList({ write: io.stderr }) : null;
  const runId = newRunId(label);
  const signals = watchSignals((message) => log.stderr(`${message}\n`), view.onInterrupt);
  // What a run costs in LXD: round trips, and the client processes among them (each ~30 ms).
  const lxdUse = { calls: 0, processes: 0, ms: 0 };
  const state = stateDir(io.env);
  try {
    const report = await work({
      lxd: lxdFor(io, (call) => {
        lxdUse.calls += 1;
        if (call.process) lxdUse.processes += 1;
        lxdUse.ms += call.durationMs;
        progress.onCall(call);
      }),
      clock: systemClock,
      emit: list?.onEvent ?? progress.onEvent,
      runId,
      runDir: join(state, 'runs', runId),
      stateDir: state,
      toolVersion: version,
      interrupt: signals.interrupt,
    }, log);
    report.lxd = { ...lxdUse };
    if (flags.verbose) log.stderr(`${lxdUse.calls} LXD calls (${lxdUse.processes} client processes), ${formatDuration(lxdUse.ms)} in LXD\n`);
    // Saved before anything is shown: after SIGHUP the terminal is gone, but the record must land.
    await saveReport(report).catch((error: Error) => log.stderr(`safeupdate: could not save the report in ${report.runDir}: ${error.message}\n`));
    // A view must never hold back the summary: the task list gets a bounded time to finish drawing.
    if (list) await Promise.race([list.flush(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    // What CI reads (--report, --junit, GitHub's step summary and annotations), once nothing draws on
    // stderr any more; a failed write only warns.
    await writeOutputs(log, flags, report, guard);
    // JSON needs no guard: its strings are quoted, so none starts a line with `::`.
    io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : guard ? guarded(renderHuman(report)) : renderHuman(report));
    return report.exitCode;
  } finally {
    guard?.end();
    signals.dispose();
  }
}

/**
 * The LXD access layer for the client chosen (`lxc` or `incus`, see chooseClient): the REST API
 * directly where the client's configuration allows it, unless `SAFEUPDATE_TRANSPORT=client`;
 * `SAFEUPDATE_LXD_TIMEOUT` bounds its quick calls (default 30s).
 */
export function lxdFor(io: Io, onCall: (call: LxdCall) => void = () => {}): Lxd {
  const timeout = io.env.SAFEUPDATE_LXD_TIMEOUT;
  const callTimeoutMs = timeout === undefined ? undefined : parseDuration(timeout, 'SAFEUPDATE_LXD_TIMEOUT', TIMER_LIMIT);
  const dialect = chooseClient(io.client, io.env);
  const transport = io.env.SAFEUPDATE_TRANSPORT || 'auto';
  if (transport !== 'auto' && transport !== 'client') throw new UsageError(`SAFEUPDATE_TRANSPORT "${transport}": must be auto or client`);
  const api = transport === 'client' ? undefined : () => directApi(dialect, io.env, onCall);
  return (io.createLxd ?? ((listener) => new LxcClient({ dialect, onCall: listener, ...(callTimeoutMs ? { callTimeoutMs } : {}), ...(api ? { api } : {}) })))(onCall);
}

async function directApi(dialect: Dialect, env: NodeJS.ProcessEnv, onCall: (call: LxdCall) => void): Promise<RestApi | null> {
  const [{ loadClientConfig }, { RestApi }] = await Promise.all([import('../lxd/client-config.js'), import('../lxd/rest.js')]);
  const config = await loadClientConfig(dialect, env);
  return config && new RestApi({ dialect, config, env, onCall });
}
