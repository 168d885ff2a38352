// safeupdate as a process: the terminal's streams, the last-resort error handlers and the exit code
// around main(). Shared by the npm package's bin/safeupdate.js and the single executable.
import { main, reportInternalError, type Io } from './main.js';

/** Runs the CLI with these arguments and ends the process with its exit code. */
export async function runAsProcess(args: string[]): Promise<never> {
  // After SIGHUP the terminal is gone: a failed write must not end the run before it has rolled back.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

  const write = (stream: NodeJS.WriteStream) => (text: string) => {
    try {
      stream.write(text);
    } catch {
      /* the terminal is gone */
    }
  };

  const io: Io = {
    stdout: write(process.stdout),
    stderr: write(process.stderr),
    terminal: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    env: process.env,
  };
  const verbose = args.includes('-v') || args.includes('--verbose');

  // Whatever nobody foresaw ends with 3 (nothing changed) or 4 (an instance may have changed, its
  // record kept for recover): never Node's 1, which the contract reserves for "rolled back and healthy".
  const crash = (error: unknown): never => process.exit(reportInternalError(error, io, verbose));
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  let code: number;
  try {
    code = await main(args, io);
  } catch (error) {
    return crash(error);
  }
  return process.exit(code);
}
