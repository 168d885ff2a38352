import { join } from 'node:path';
import { Argument, Command } from 'commander';
import { formatDuration } from '../config/duration.js';
import { stateDir } from '../config/paths.js';
import { UsageError } from '../errors.js';
import { parseInstanceRef } from '../lxd/names.js';
import { EXIT } from '../report/exit-codes.js';
import type { Report } from '../report/report.js';
import { findReport, listReports } from '../state/run-history.js';
import { chooseClient } from '../lxd/dialect.js';
import { completionScript } from './completion.js';
import { commandTree, SHELLS, type Shell } from './completion/tree.js';
import type { Io } from './io.js';

/** history, show, completion: finding past runs again, and the shell's help with names. */
export function addRecordCommands(program: Command, io: Io, setExitCode: (code: number) => void): void {
  program
    .command('history')
    .description('list past runs: when, instance, command, outcome, snapshot, duration')
    .argument('[instance]', 'only the runs that touched this instance')
    .option('--project <name>', 'only the runs in this LXD project (a run that named none ran in default)')
    .option('--limit <n>', 'the newest n runs', '20')
    .option('--json', 'as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  safeupdate history\n  safeupdate history web1 --limit 5 --json\n  safeupdate history backup:db1 --project prod')
    .action(async (instance: string | undefined, flags: { limit: string; json?: boolean; project?: string }) => {
      // Refuses what could never match, as every other command does: a bad name or project.
      parseInstanceRef(instance ?? 'x', flags.project ?? null);
      if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1) throw new UsageError(`--limit "${flags.limit}": expected a whole number of at least 1`);
      const filter = { ...(instance === undefined ? {} : { instance }), ...(flags.project === undefined ? {} : { project: flags.project }) };
      const reports = (await listReports(stateDir(io.env), filter)).slice(-Number(flags.limit));
      if (flags.json) io.stdout(`${JSON.stringify(reports.map(summarize), null, 2)}\n`);
      else io.stdout(renderHistory(reports, await import('../report/text-width.js')));
      setExitCode(EXIT.ok);
    });

  program
    .command('show')
    .description('print the report of a past run again, with where its log and evidence are')
    .argument('<run>', 'a run id from history, or an unambiguous beginning of it')
    .option('--json', 'the report as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  safeupdate show 20261126T042055Z-web1-8a7f\n  safeupdate show 20261126T0420 --json')
    .action(async (id: string, flags: { json?: boolean }) => {
      const found = await findReport(stateDir(io.env), id);
      if (found === 'ambiguous') throw new UsageError(`run "${id}" matches more than one run; give more of its id (safeupdate history)`);
      if (found === null) throw new UsageError(`no run "${id}" in ${join(stateDir(io.env), 'runs')} (safeupdate history lists them)`);
      io.stdout(flags.json ? `${JSON.stringify(found, null, 2)}\n` : (await import('../report/human.js')).renderHuman(found));
      setExitCode(EXIT.ok);
    });

  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish: eval "$(safeupdate completion bash)"')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText('after', '\nExamples:\n  eval "$(safeupdate completion bash)"                       # in ~/.bashrc\n  safeupdate completion zsh > "${fpath[1]}/_safeupdate"      # a folder of $fpath\n  safeupdate completion fish > ~/.config/fish/completions/safeupdate.fish')
    .action((shell: Shell) => {
      io.stdout(completionScript(shell, commandTree(program), chooseClient(io.client, io.env).client));
      setExitCode(EXIT.ok);
    });
}

function summarize(report: Report) {
  return {
    runId: report.runId,
    startedAt: report.startedAt,
    instances: report.instances.map((item) => item.instance),
    command: report.command,
    outcome: report.outcome,
    exitCode: report.exitCode,
    snapshots: report.instances.map((item) => item.snapshot.name).filter(Boolean),
    durationMs: report.durationMs,
  };
}

/** With the display-width helpers the caller loaded on use: string-width is costly to load (see withRun). */
function renderHistory(reports: Report[], { displayWidth, padEndTo }: typeof import('../report/text-width.js')): string {
  if (reports.length === 0) return 'no runs yet\n';
  const rows = reports.map((report) => [
    report.startedAt.slice(0, 19).replace('T', ' '),
    report.instances.map((item) => item.instance).join(','),
    report.outcome,
    String(report.exitCode),
    report.instances.map((item) => item.snapshot.name ?? '-').join(','),
    formatDuration(report.durationMs),
    report.runId,
    report.command.join(' '),
  ]);
  const header = ['WHEN (UTC)', 'INSTANCE', 'OUTCOME', 'EXIT', 'SNAPSHOT', 'TOOK', 'RUN', 'COMMAND'];
  const widths = header.map((title, i) => Math.max(displayWidth(title), ...rows.map((row) => displayWidth(row[i]!))));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : padEndTo(cell, widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
