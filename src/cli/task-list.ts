import type { ListrTask, ListrTaskWrapper } from 'listr2';
import { formatDuration } from '../config/duration.js';
import { renderCheck } from '../report/human.js';
import type { RunEvent } from '../run/events.js';

type Wrapper = ListrTaskWrapper<unknown, any, any>;

/** One step as a listr2 task that finishes when the run says the step has ended. */
interface PendingStep {
  wrapper: Promise<Wrapper>;
  end: (result: { ok: boolean; message: string } | { skipped: string }) => void;
}

/** listr2 and the options every list here shares; loaded with the first list drawn, never for --help or a pipe. */
export async function loadListr() {
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2');
  const options = {
    registerSignalListeners: false,
    exitOnError: false,
    // On stderr: stdout is for the report (and for --json).
    rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }), collapseErrors: true, collapseSubtasks: false },
  } as const;
  return { Listr, options };
}

const PLACEHOLDER: Record<string, string> = {
  evidence: 'Collect evidence',
  stop: 'Stop',
  'keep-failed': 'Keep the failed state',
  restore: 'Restore',
  start: 'Start',
  'after-rollback': 'Checks (after-rollback)',
  'rehearsal-copy': 'Copy the snapshot',
  'rehearsal-start': 'Start the copy',
  baseline: 'Checks (baseline)',
  update: 'Update',
  restart: 'Restart',
  'after-update': 'Checks (after-update)',
  soak: 'Soak',
  'rehearsal-stop': 'Stop the copy',
  'rehearsal-delete': 'Delete the copy',
};

/**
 * The live task list (listr2) for a terminal: one view of the run's events, never its control
 * flow. Steps render as small lists one after the other, so that the update command can own the
 * terminal between two of them (apt's prompts and progress work) and the list simply goes on
 * afterwards; a group (the rollback) renders as one task with its steps as subtasks. listr2's own
 * signal handling is off: safeupdate owns its signals.
 */
export function taskList(options: { write: (text: string) => void }): { onEvent: (event: RunEvent) => void; flush: () => Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void> | void) => {
    chain = chain.then(work, work);
  };
  /** The list on screen now, its steps not yet ended, and whether it is a group (closed by group-end). */
  let shown: { done: Promise<void>; steps: Map<string, PendingStep>; group: boolean } | null = null;
  let running: PendingStep | null = null;
  let ownsTerminal = false;
  const heldLines: string[] = [];

  const stepTask = (action: string, title: string, steps: Map<string, PendingStep>): ListrTask<unknown, any> => {
    let gotWrapper!: (wrapper: Wrapper) => void;
    let end!: PendingStep['end'];
    const ended = new Promise<Parameters<PendingStep['end']>[0]>((resolve) => (end = resolve));
    steps.set(action, { wrapper: new Promise((resolve) => (gotWrapper = resolve)), end });
    return {
      title,
      task: async (_, wrapper) => {
        gotWrapper(wrapper);
        const result = await ended;
        if ('skipped' in result) return wrapper.skip(result.skipped);
        wrapper.title = `${wrapper.title} (${result.message})`;
        // Collapsed: the failed step's line says it all, once.
        if (!result.ok) throw new Error(wrapper.title);
      },
      rendererOptions: { persistentOutput: true, outputBar: Infinity },
    };
  };

  const show = async (group: boolean, tasks: (steps: Map<string, PendingStep>) => ListrTask<unknown, any>[]) => {
    const { Listr, options: listOptions } = await loadListr();
    const steps = new Map<string, PendingStep>();
    const done = new Listr(tasks(steps), listOptions).run().then(
      () => undefined,
      () => undefined,
    );
    shown = { done, steps, group };
  };

  const closeShown = async () => {
    if (!shown) return;
    for (const step of shown.steps.values()) step.end({ skipped: 'not reached' });
    await shown.done;
    shown = null;
    for (const line of heldLines.splice(0)) options.write(line);
  };

  const onEvent = (event: RunEvent) => {
    switch (event.type) {
      case 'update-owns-terminal':
        ownsTerminal = event.owns;
        return;
      case 'group-start':
        enqueue(async () => {
          await closeShown();
          await show(true, (steps) => {
            // Made now, not when listr starts the group: the step events must find them at once.
            const subtasks = event.actions.map((action) => stepTask(action, PLACEHOLDER[action] ?? action, steps));
            return [{ title: event.title, task: (_, parent) => parent.newListr(subtasks, { exitOnError: false }) }];
          });
        });
        return;
      case 'group-end':
        enqueue(closeShown);
        return;
      case 'step-start':
        enqueue(async () => {
          const grouped = shown?.steps.get(event.action);
          if (grouped) {
            running = grouped;
            (await grouped.wrapper).title = event.title;
            return;
          }
          await closeShown();
          // The update command takes the terminal: a plain line, no spinner over its output.
          if (ownsTerminal || event.action === 'update') return options.write(`▸ ${event.title}\n`);
          await show(false, (steps) => [stepTask(event.action, event.title, steps)]);
          running = shown!.steps.get(event.action)!;
        });
        return;
      case 'step-end':
        enqueue(async () => {
          const summary = `${formatDuration(event.step.durationMs)}${event.step.message ? `, ${event.step.message}` : ''}`;
          const step = shown?.steps.get(event.step.action);
          running = null;
          if (!step) return options.write(`${event.step.ok ? '✔' : '✖'} ${event.step.action} (${summary})\n`);
          shown!.steps.delete(event.step.action);
          step.end({ ok: event.step.ok, message: summary });
          if (!shown!.group) await closeShown();
        });
        return;
      case 'check':
        enqueue(async () => {
          if (!running) return options.write(`  ${renderCheck(event.result)}\n`);
          const wrapper = await running.wrapper;
          wrapper.output = [wrapper.output, renderCheck(event.result)].filter(Boolean).join('\n');
        });
        return;
      case 'progress':
        enqueue(async () => {
          if (running) (await running.wrapper).output = event.message;
        });
        return;
      case 'output':
        enqueue(async () => {
          if (running) (await running.wrapper).output = event.chunk.trimEnd().split('\n').at(-1) ?? '';
          else if (!ownsTerminal) options.write(event.chunk);
        });
        return;
      case 'warning':
        enqueue(() => {
          // Nothing may write to the terminal while a list renders: warnings wait for it to end.
          const line = `! ${event.message}\n`;
          if (shown) heldLines.push(line);
          else options.write(line);
        });
        return;
    }
  };

  return { onEvent, flush: () => chain.then(closeShown) };
}
