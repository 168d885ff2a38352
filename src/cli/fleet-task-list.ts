import type { ListrTaskWrapper } from 'listr2';
import { formatDuration } from '../config/duration.js';
import { describeEnd } from './fleet-lines.js';
import type { FleetEmit, FleetEvent } from '../fleet/run-fleet.js';
import type { InstanceReport } from '../report/report.js';
import { loadListr } from './task-list.js';

type Wrapper = ListrTaskWrapper<unknown, any, any>;

/** What one instance's group shows: its title, and a line per step so far. */
export interface BoardRow {
  title: string;
  lines: string[];
  /** The instance's run is over: how it ended. */
  ended: { item: InstanceReport; ok: boolean } | null;
}

/** Outcomes that leave an instance as asked (or untouched on purpose): not drawn as a failure. */
const FINE = new Set(['updated', 'planned', 'skipped']);

/**
 * The fleet's task list as plain data: one group per instance, its current step in the title and
 * its ended steps as lines. A pure reduction of the runs' events, kept apart from listr2 so that it
 * can be tested without a terminal.
 */
export class FleetBoard {
  readonly rows = new Map<string, BoardRow>();

  constructor(labels: readonly string[]) {
    for (const label of labels) this.rows.set(label, { title: `${label}: waiting`, lines: [], ended: null });
  }

  apply(label: string, event: FleetEvent): BoardRow | null {
    const row = this.rows.get(label);
    if (!row || row.ended) return null;
    switch (event.type) {
      case 'step-start':
        row.title = `${label}: ${event.title}`;
        break;
      case 'step-end': {
        const { step } = event;
        row.lines.push(`${step.ok ? '✔' : '✖'} ${step.action} (${formatDuration(step.durationMs)}${step.message ? `, ${step.message}` : ''})`);
        break;
      }
      case 'group-start':
        row.lines.push(`▸ ${event.title}`);
        break;
      case 'warning':
        row.lines.push(`! ${event.message}`);
        break;
      case 'finished': {
        const { item } = event;
        row.title = `${label}: ${describeEnd(item)}`;
        row.ended = { item, ok: FINE.has(item.outcome) };
        break;
      }
      default:
        // Output and checks are in the log and the report; a group per instance shows steps only.
        return null;
    }
    return row;
  }
}

/**
 * The live task list of a fleet in a terminal: one listr2 group per instance, all drawn at once
 * (the scheduler, not listr2, decides what runs), each ending with its outcome. listr2's signal
 * handling is off, as in the single run's list.
 */
export async function fleetTaskList(labels: readonly string[]): Promise<{ emit: FleetEmit; flush: () => Promise<void> }> {
  const { Listr, options: listOptions } = await loadListr();
  // One group per name: a label listed twice must not leave a group that never ends.
  const unique = [...new Set(labels)];
  const board = new FleetBoard(unique);
  const wrappers = new Map<string, Promise<Wrapper>>();
  const ends = new Map<string, () => void>();
  const tasks = unique.map((label) => {
    let gotWrapper!: (wrapper: Wrapper) => void;
    wrappers.set(label, new Promise((resolve) => (gotWrapper = resolve)));
    const ended = new Promise<void>((resolve) => ends.set(label, resolve));
    return {
      title: board.rows.get(label)!.title,
      task: async (_: unknown, wrapper: Wrapper) => {
        gotWrapper(wrapper);
        await ended;
        const row = board.rows.get(label)!;
        wrapper.title = row.title;
        if (row.ended?.item.outcome === 'skipped') return wrapper.skip(row.title);
        if (!row.ended?.ok) throw new Error(row.title);
      },
      rendererOptions: { persistentOutput: true, outputBar: Infinity },
    };
  });
  const done = new Listr(tasks, { ...listOptions, concurrent: true }).run().then(
    () => undefined,
    () => undefined,
  );

  const emit: FleetEmit = (label, event) => {
    const linesBefore = board.rows.get(label)?.lines.length ?? 0;
    const row = board.apply(label, event);
    if (!row) return;
    const added = row.lines.slice(linesBefore);
    const { title } = row;
    void wrappers.get(label)?.then((wrapper) => {
      wrapper.title = title;
      // listr2 keeps every output given in the task's bar: one new line, one assignment.
      for (const line of added) wrapper.output = line;
    });
    if (row.ended) ends.get(label)?.();
  };
  // Every group ends, also one the fleet never reported (an internal error): the list must not hang.
  const flush = async () => {
    for (const end of ends.values()) end();
    await done;
  };
  return { emit, flush };
}
