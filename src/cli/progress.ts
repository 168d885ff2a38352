import { formatDuration } from '../config/duration.js';
import type { LxdCall } from '../lxd/lxd.js';
import { renderCheck } from '../report/human.js';
import { terminalText } from '../report/terminal-text.js';
import type { RunEvent } from '../run/events.js';
import type { OutputFold } from './outputs.js';

export interface ProgressOptions {
  write: (text: string) => void;
  verbose: boolean;
  quiet: boolean;
  /** Show the update command's output as it comes (it is in the log file either way). */
  showOutput: boolean;
  /** In CI, fold the update's output under one line (a GitHub group, a GitLab section). */
  fold?: OutputFold | null;
  /** Where the fold's markers go, when they are commands that `write` must not carry (GitHub, outputs.ts); else `write`. */
  mark?: (text: string) => void;
}

/** The line-per-step view of a run, for logs, CI and hooks. */
export function lineProgress(options: ProgressOptions): { onEvent: (event: RunEvent) => void; onCall: (call: LxdCall) => void } {
  const { verbose, quiet, showOutput } = options;
  const fold = showOutput && !quiet ? (options.fold ?? null) : null;
  let folding = false;
  let atLineStart = true;
  const write = (text: string, to = options.write) => {
    if (!text) return;
    to(text);
    atLineStart = text.endsWith('\n');
  };
  const mark = options.mark ?? options.write;
  // safeupdate's own lines carry text from inside the instance; the command's output streams as it is.
  const say = (text: string) => write(terminalText(text));
  return {
    onEvent(event) {
      switch (event.type) {
        case 'step-start':
          if (fold && event.action === 'update') {
            write(fold.open(event.title), mark);
            folding = true;
          } else if (!quiet) say(`▸ ${event.title}\n`);
          return;
        case 'step-end':
          if (folding && event.step.action === 'update') {
            // The end marker must start a line of its own, whatever the command's last line was.
            if (!atLineStart) write('\n');
            write(fold!.close(), mark);
            folding = false;
          }
          if (!quiet || !event.step.ok) {
            say(`${event.step.ok ? '✔' : '✖'} ${event.step.action} (${formatDuration(event.step.durationMs)}): ${event.step.message}\n`);
          }
          return;
        case 'check':
          if (!quiet) say(`  ${renderCheck(event.result)}\n`);
          return;
        case 'output':
          if (showOutput && !quiet) write(event.chunk);
          return;
        case 'warning':
          say(`! ${event.message}\n`);
          return;
        case 'progress':
          if (!quiet) say(`  ${event.message}\n`);
          return;
        case 'group-start':
          if (!quiet) say(`▸ ${event.title}\n`);
          return;
        case 'update-owns-terminal':
        case 'group-end':
          return;
      }
    },
    onCall(call) {
      if (verbose) say(`  · ${call.command.join(' ')} (${formatDuration(call.durationMs)}${call.ok ? '' : ', failed'})\n`);
    },
  };
}
