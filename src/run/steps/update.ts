import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDuration } from '../../config/duration.js';
import type { ExecResult } from '../../lxd/lxd.js';
import type { Failure, RunOptions } from '../types.js';
import { mark } from './lock.js';
import { beginChanging, describeError, Refusal, step, warn, type RunScope } from './scope.js';

export async function runUpdateCommand(scope: RunScope, options: RunOptions): Promise<ExecResult | Failure> {
  const { lxd, emit, interrupt } = scope.context;
  const unrecorded = await mark(scope, { phase: 'updating' });
  if (unrecorded) return { step: 'update', message: `${unrecorded}; not starting the update, which a crash could then leave unrecoverable` };
  // The last moment to stop cleanly: an update started with an aborted signal is cut at once and must then be rolled back.
  if (interrupt.aborted) return { step: 'update', message: `interrupted by ${String(interrupt.reason)} before the update command started` };
  beginChanging(scope);
  const logFile = join(scope.instanceDir, 'update.log');
  scope.item.update.logFile = logFile;
  const log = await openLog(scope, logFile);
  log.write(`$ ${options.command.join(' ')}\n`);
  if (options.interactive) log.write(`(interactive: the terminal's transcript is in ${logFile}.tty)\n`);
  // SAFEUPDATE_RUN marks safeupdate's own run for the apt hooks inside (hooks/apt): the guard lets it through.
  const env = { ...(options.interactive ? options.env : { DEBIAN_FRONTEND: 'noninteractive', ...options.env }), SAFEUPDATE_RUN: scope.context.runId };
  let result: ExecResult | undefined;
  const outcome = await step(scope, 'update', `Update: ${options.command.join(' ')}`, async () => {
    if (options.interactive) emit({ type: 'update-owns-terminal', owns: true });
    try {
      result = await lxd.exec(scope.ref, options.command, {
        env,
        interactive: options.interactive,
        // script(1) cannot start without its transcript file: none where the log's folder is unusable.
        ...(options.interactive && log.usable ? { transcript: `${logFile}.tty` } : {}),
        timeoutMs: options.timeoutMs,
        signal: interrupt,
        onOutput: (chunk) => {
          log.write(chunk);
          emit({ type: 'output', chunk });
        },
      });
    } finally {
      if (options.interactive) emit({ type: 'update-owns-terminal', owns: false });
    }
    Object.assign(scope.item.update, { exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut });
    const message = result.timedOut ? 'timed out' : result.canceled ? 'interrupted' : `exit ${result.exitCode ?? result.signal}`;
    if (result.exitCode !== 0) throw new Refusal(message);
    return { message };
  });
  scope.item.update.durationMs = scope.item.steps.at(-1)?.durationMs ?? null;
  await log.close();
  if (!result) return { step: 'update', message: `could not run the update command: ${outcome.ok ? '' : outcome.message}` };
  return result;
}

/**
 * The update's log: evidence, not a precondition. A folder that cannot be made or a write that
 * fails (a full disk) is one warning, and the run goes on with the log marked incomplete.
 */
async function openLog(scope: RunScope, file: string): Promise<{ usable: boolean; write: (text: string) => void; close: () => Promise<void> }> {
  let failed = false;
  const fail = (error: unknown) => {
    if (failed) return;
    failed = true;
    warn(scope, `the update's log ${file} is incomplete: ${describeError(error)}`);
  };
  let stream: WriteStream | null = null;
  try {
    await mkdir(scope.instanceDir, { recursive: true });
    stream = createWriteStream(file);
    stream.on('error', fail);
  } catch (error) {
    fail(error);
  }
  return {
    usable: !failed,
    write: (text) => {
      if (!failed) stream?.write(text);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!stream || failed || stream.destroyed) return resolve();
        stream.once('error', () => resolve());
        stream.end(resolve);
      }),
  };
}

export function interruptedFailure(step: string, interrupt: AbortSignal): Failure {
  return { step, message: `interrupted by ${String(interrupt.reason)}` };
}

export function describeUpdateFailure(result: ExecResult | Failure, options: RunOptions, interrupt: AbortSignal): Failure | null {
  if ('step' in result) return result;
  if (result.canceled || interrupt.aborted) return interruptedFailure('update', interrupt);
  // A command that owns the terminal gets Ctrl+C itself (the terminal is raw): it ends with 130.
  if (options.interactive && result.exitCode === 130) return { step: 'update', message: 'interrupted by Ctrl+C (SIGINT) in the update command', signal: 'SIGINT' };
  if (result.timedOut) return { step: 'update', message: `the update command did not finish within ${formatDuration(options.timeoutMs)} (--timeout)` };
  if (result.exitCode !== 0) return { step: 'update', message: `the update command exited ${result.exitCode ?? `on ${result.signal}`}` };
  return null;
}
