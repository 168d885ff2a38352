const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * safeupdate owns its signals (listr2's own handler would exit without rolling back): the first
 * one aborts the work, which then ends the way `whatNow` says (a run rolls back, a check stops);
 * later ones only say that it is doing so. Each subcommand reads the abort and exits with the
 * signal's code.
 */
export function watchSignals(say: (message: string) => void, whatNow: string): { interrupt: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      safely(say, `safeupdate: ${signal} received; ${whatNow}`);
      controller.abort(signal);
    } else {
      safely(say, `safeupdate: ${signal} received again; still ${whatNow.replace(/ \(.*\)$/, '')}: a step that changes the instance is never abandoned half-way`);
    }
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    interrupt: controller.signal,
    dispose: () => SIGNALS.forEach((signal) => process.off(signal, onSignal)),
  };
}

// After SIGHUP the terminal is gone and writes to it fail; the rollback must go on regardless.
function safely(say: (message: string) => void, message: string): void {
  try {
    say(message);
  } catch {
    /* the terminal is gone */
  }
}
