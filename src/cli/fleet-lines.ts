import { lineProgress, type ProgressOptions } from './progress.js';
import { formatDuration } from '../config/duration.js';
import { headline } from '../report/human.js';
import type { InstanceReport } from '../report/report.js';
import type { FleetEmit } from '../fleet/run-fleet.js';

/** How one instance of a fleet ended, in a line: `updated and healthy in 8.9s`, with why where it failed. */
export function describeEnd(item: InstanceReport): string {
  const took = item.durationMs === null ? '' : ` in ${formatDuration(item.durationMs)}`;
  return `${headline(item)}${took}${item.error ? ` (${item.error.step}: ${item.error.message})` : ''}`;
}

/**
 * The line view of a fleet: each instance gets its own line view, and every line it writes starts
 * with the instance, so the interleaved lines of parallel runs can still be told apart (and grepped).
 */
export function fleetLines(options: ProgressOptions): FleetEmit {
  const views = new Map<string, ReturnType<typeof lineProgress>>();
  return (instance, event) => {
    let view = views.get(instance);
    if (!view) {
      let atLineStart = true;
      view = lineProgress({
        ...options,
        // A fold groups one command's output; several at once cannot share one group.
        fold: null,
        write: (text) => {
          const prefixed = text.replace(/(^|\n)(?=.)/g, (_match, newline: string, offset: number) => (offset === 0 && !atLineStart ? newline : `${newline}[${instance}] `));
          atLineStart = text.endsWith('\n');
          options.write(prefixed);
        },
      });
      views.set(instance, view);
    }
    if (event.type !== 'finished') return view.onEvent(event);
    // One line per instance as it ends, also under --quiet: a long fleet shows its progress.
    const { item } = event;
    options.write(`[${instance}] → ${describeEnd(item)}\n`);
  };
}
