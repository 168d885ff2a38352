const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * safeupdate owns its signals (listr2's own handler would exit without rolling back): the first
 * one aborts the run, which then rolls back and reports; later ones only say that it is doing so.
 */
export function watchSignals(say: (message: string) => void): { interrupt: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      safely(say, `safeupdate: ${signal} received; stopping the update and rolling back (this takes a few seconds)`);
      controller.abort(signal);
    } else {
      safely(say, `safeupdate: ${signal} received again; the rollback is still running and will not be abandoned half-way`);
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
