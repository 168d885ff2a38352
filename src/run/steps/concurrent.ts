import type { InstanceReport } from '../../report/report.js';
import type { Emit, RunEvent } from '../events.js';
import type { RunScope } from './scope.js';

/**
 * Reads of a run made at the same time as other work (issue 25), with a report and views that
 * show what the sequential run showed, in its order. The read writes into a draft of the
 * instance's report; its entries join the run's at the place the sequential run had them, and the
 * views are told of the two in that order. Only reads run this way: what changes the instance
 * (snapshot, update, restart, rollback) never overlaps anything.
 */

/** The report's lists that steps push to; every other field a draft sets replaces the item's. */
const LISTS = ['steps', 'warnings', 'checks'] as const;
type Places = Record<(typeof LISTS)[number], number>;

interface Draft {
  scope: RunScope;
  /** Its entries into the run's report, at these places in its lists (the end where not given). */
  merge(places?: Places): void;
}

/** A scope for work beside the run: it reads the run's scope, and writes a report of its own and to `emit`. */
function draft(parent: RunScope, emit: Emit): Draft {
  const item: InstanceReport = { ...parent.item, steps: [], warnings: [], checks: [] };
  const fresh = { ...item };
  // Its reads of the run's scope (ref, lease) see the run's current state; it writes none of it.
  const scope: RunScope = Object.create(parent, { item: { value: item }, context: { value: { ...parent.context, emit } } });
  return {
    scope,
    merge(places = placesNow(parent.item)) {
      for (const list of LISTS) (parent.item[list] as unknown[]).splice(places[list], 0, ...item[list]);
      for (const key of Object.keys(item) as Array<keyof InstanceReport>) {
        if (!(LISTS as readonly string[]).includes(key) && item[key] !== fresh[key]) Object.assign(parent.item, { [key]: item[key] });
      }
    },
  };
}

function placesNow(item: InstanceReport): Places {
  return { steps: item.steps.length, warnings: item.warnings.length, checks: item.checks.length };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Starts the work now (its first call goes out before the caller's next one) and settles without
 * rejecting: a failure is kept for whoever awaits it, never left unhandled.
 */
function start<T>(work: () => Promise<T>): Promise<Settled<T>> {
  try {
    return work().then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
  } catch (error) {
    return Promise.resolve({ ok: false as const, error });
  }
}

export interface Ahead<T> {
  /** Where the sequential run did the work: its report entries and events join the run's here, and it is awaited. */
  turn(): Promise<T>;
}

/**
 * Starts a read before its turn, beside the steps that come first. Until `turn` its report entries
 * and events are held; a run that ends before its turn drops them (the sequential run never got
 * that far), and waits for it to end first (`settleAll`). Only one turn is taken.
 */
export function ahead<T>(scope: RunScope, work: (scope: RunScope) => Promise<T>): Ahead<T> {
  const held: RunEvent[] = [];
  let live: Emit | null = null;
  const early = draft(scope, (event) => (live ? live(event) : held.push(event)));
  const result = start(() => work(early.scope));
  scope.running.push(result);
  return {
    async turn() {
      live = scope.context.emit;
      for (const event of held.splice(0)) live(event);
      const outcome = await result;
      early.merge();
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },
  };
}

export interface Beside<T> {
  /** Its value, once it has ended. */
  done(): Promise<T>;
}

/**
 * Starts a read at its turn and lets the run go on beside it. Its report entries keep their place
 * (before everything the run records meanwhile), and the views are told of what the run does
 * meanwhile only once it has ended. A step that changes the instance first waits for it (`settleAll`).
 */
export function beside<T>(scope: RunScope, work: (scope: RunScope) => Promise<T>): Beside<T> {
  if (scope.held) throw new Error('one read beside the run at a time');
  const places = placesNow(scope.item);
  scope.held = [];
  const now = draft(scope, scope.tell);
  const result = start(() => work(now.scope)).then((outcome) => {
    now.merge(places);
    const held = scope.held ?? [];
    scope.held = null;
    for (const event of held) scope.tell(event);
    return outcome;
  });
  scope.running.push(result);
  return {
    async done() {
      const outcome = await result;
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },
  };
}

/**
 * Waits until nothing runs beside the run: before a step changes the instance, and before the run
 * ends and lets go of the instance. Never throws; a failure is its turn's to report.
 */
export async function settleAll(scope: RunScope): Promise<void> {
  while (scope.running.length) await scope.running.shift();
}
