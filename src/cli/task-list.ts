import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { formatDuration } from '../config/duration.js';
import { renderCheck } from '../report/human.js';
import type { RunEvent } from '../run/events.js';

/**
 * The live task list (listr2) for a terminal: one view of the run's events, never its control
 * flow. Each step renders as its own small list, one after the other, so that the update command
 * can own the terminal between two of them (apt's prompts and progress work) and the list simply
 * goes on afterwards. listr2's own signal handling is off: safeupdate owns its signals.
 */
export function taskList(options: { write: (text: string) => void }): { onEvent: (event: RunEvent) => void; flush: () => Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  let current: { finish: (ok: boolean, message: string) => void; task: Promise<ListrTaskWrapper<unknown, any, any> | null>; done: Promise<void> } | null = null;
  let ownsTerminal = false;
  const pendingLines: string[] = [];
  const enqueue = (work: () => Promise<void> | void) => {
    chain = chain.then(work, work);
  };

  const start = (title: string) => {
    let finish!: (ok: boolean, message: string) => void;
    const ended = new Promise<{ ok: boolean; message: string }>((resolve) => (finish = (ok, message) => resolve({ ok, message })));
    let gotTask!: (task: ListrTaskWrapper<unknown, any, any> | null) => void;
    const task = new Promise<ListrTaskWrapper<unknown, any, any> | null>((resolve) => (gotTask = resolve));
    const list = new Listr(
      [
        {
          title,
          task: async (_, wrapper) => {
            gotTask(wrapper);
            const { ok, message } = await ended;
            wrapper.title = `${title} (${message})`;
            if (!ok) throw new Error(message);
          },
          rendererOptions: { persistentOutput: true, outputBar: Infinity },
        },
      ],
      {
        registerSignalListeners: false,
        exitOnError: false,
        // On stderr: stdout is for the report (and for --json).
        rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }), collapseErrors: false },
      },
    );
    const done = list.run().then(
      () => undefined,
      () => undefined,
    );
    current = { finish, task, done };
  };

  const onEvent = (event: RunEvent) => {
    switch (event.type) {
      case 'update-owns-terminal':
        ownsTerminal = event.owns;
        return;
      case 'step-start':
        enqueue(() => {
          // The update command takes the terminal: a plain line, no spinner over its output.
          if (ownsTerminal || event.action === 'update') return options.write(`▸ ${event.title}\n`);
          start(event.title);
        });
        return;
      case 'step-end':
        enqueue(async () => {
          const summary = `${formatDuration(event.step.durationMs)}${event.step.message ? `, ${event.step.message}` : ''}`;
          if (!current) return options.write(`${event.step.ok ? '✔' : '✖'} ${event.step.action} (${summary})\n`);
          current.finish(event.step.ok, summary);
          await current.done;
          current = null;
          for (const line of pendingLines.splice(0)) options.write(line);
        });
        return;
      case 'check':
        enqueue(async () => {
          const task = await current?.task;
          if (task) task.output = [task.output, renderCheck(event.result)].filter(Boolean).join('\n');
          else options.write(`  ${renderCheck(event.result)}\n`);
        });
        return;
      case 'output':
        enqueue(async () => {
          const task = await current?.task;
          if (task) task.output = event.chunk.trimEnd().split('\n').at(-1) ?? '';
          else if (!ownsTerminal) options.write(event.chunk);
        });
        return;
      case 'warning':
        enqueue(() => {
          // Nothing may write to the terminal while a list renders: warnings wait for the step's end.
          const line = `! ${event.message}\n`;
          if (current) pendingLines.push(line);
          else options.write(line);
        });
        return;
    }
  };

  return { onEvent, flush: () => chain };
}
