import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { systemClock } from '../checks/probe.js';
import { stateDir } from '../config/paths.js';
import { UsageError } from '../errors.js';
import { LxcClient } from '../lxd/lxc-client.js';
import type { Lxd, LxdCall } from '../lxd/lxd.js';
import { EXIT, EXIT_CODE_HELP } from '../report/exit-codes.js';
import { renderHuman } from '../report/human.js';
import { runUpdate } from '../run/run-update.js';
import { lineProgress } from './progress.js';
import { toRunOptions, type RunFlags } from './run-options.js';
import { watchSignals } from './signals.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Both stdin and stdout are terminals. */
  terminal: boolean;
  env: NodeJS.ProcessEnv;
  /** The LXD access layer; tests hand in a scripted fake. */
  createLxd?: (onCall: (call: LxdCall) => void) => Lxd;
}

const collect = (value: string, previous: string[]) => [...previous, value];

const RUN_EXAMPLES = `
Examples:
  safeupdate web1 -- apt-get upgrade -y
  safeupdate web1 --check unit:nginx --check 'exec:curl -fsS localhost/health' -- apt-get upgrade -y
  safeupdate backup:db1 --project prod --expiry 7d -- sh -c 'apt-get update && apt-get -y dist-upgrade'
  safeupdate web1 --dry-run -- apt-get upgrade -y

${EXIT_CODE_HELP}`;

/** Runs the command line and returns the exit code; it never calls process.exit itself. */
export async function main(argv: string[], io: Io): Promise<number> {
  // Everything after the first "--" is the update command, passed on as an array, never re-joined.
  const split = argv.indexOf('--');
  const ownArgs = split >= 0 ? argv.slice(0, split) : argv;
  const command = split >= 0 ? argv.slice(split + 1) : null;
  let exitCode: number = EXIT.ok;

  const program = new Command('safeupdate')
    .description('Safe package upgrades in LXD containers: snapshot, update, verify, roll back automatically, report.')
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(safeupdate --help for usage)');

  program
    .command('run', { isDefault: true })
    .description('snapshot an instance, run the update command in it, check its health, and roll back on failure')
    .usage('[options] <instance> -- <command> [args...]')
    .argument('<instance>', 'the instance to update: [remote:]name')
    // Words after the instance without "--" are a forgotten "--": say that, not "too many arguments".
    .allowExcessArguments(true)
    .option('--project <name>', 'the LXD project of the instance')
    .option('--check <spec>', 'health check, repeatable: systemd | unit:<name> | exec:<shell command> (default: systemd where the instance runs it)', collect, [])
    .option('--force', 'update even when a required check fails before the update')
    .option('--snapshot-name <name>', 'snapshot name (default safeupdate-YYYYMMDD-HHMMSS, UTC); "safeupdate-" is prefixed if missing')
    .option('--expiry <duration>', 'when the snapshot expires: 90s, 30m, 12h, 14d, 2w, 1h30m', '14d')
    .option('--no-expiry', 'keep the snapshot until it is deleted')
    .option('--env <KEY=VALUE>', 'environment variable for the update command, repeatable', collect, [])
    .option('--timeout <duration>', 'bound on the update command; hitting it counts as a failure', '1h')
    .option('--no-rollback', 'on failure, leave the instance as it is and report (exit 4)')
    .option('--dry-run', 'check and print the plan; change nothing')
    .option('--json', 'print the report as JSON on stdout; everything else goes to stderr')
    .addOption(new Option('-v, --verbose', 'show every LXD call and its duration').conflicts('quiet'))
    .option('-q, --quiet', 'print only the summary and errors')
    .addHelpText('after', RUN_EXAMPLES)
    .action(async (instance: string, flags: RunFlags & { verbose?: boolean; quiet?: boolean }, self: Command) => {
      const excess = self.args.slice(1);
      if (excess.length && command !== null) throw new UsageError(`unexpected "${excess.join(' ')}" between the instance and "--"`);
      exitCode = await runCommand(instance, command, flags, io);
    });

  program.addHelpText('after', `\nWithout a subcommand, "run" is meant: safeupdate <instance> -- <command>.\n${RUN_EXAMPLES}`);

  try {
    await program.parseAsync(ownArgs, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr(`safeupdate: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

async function runCommand(instance: string, command: string[] | null, flags: RunFlags & { verbose?: boolean; quiet?: boolean }, io: Io): Promise<number> {
  const options = toRunOptions(instance, command, flags, io.terminal);
  const progress = lineProgress({
    write: io.stderr,
    verbose: flags.verbose ?? false,
    quiet: flags.quiet ?? false,
    showOutput: !options.interactive,
  });
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${options.ref.name}-${randomBytes(2).toString('hex')}`;
  const signals = watchSignals((message) => io.stderr(`${message}\n`));
  try {
    const report = await runUpdate(options, {
      lxd: (io.createLxd ?? ((onCall) => new LxcClient({ onCall })))(progress.onCall),
      clock: systemClock,
      emit: progress.onEvent,
      runId,
      runDir: join(stateDir(io.env), 'runs', runId),
      toolVersion: version,
      interrupt: signals.interrupt,
    });
    if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout(renderHuman(report));
    return report.exitCode;
  } finally {
    signals.dispose();
  }
}
