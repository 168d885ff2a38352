import { LxdError } from '../errors.js';
import { EXIT } from '../report/exit-codes.js';
import { CannotInstall } from './certificate.js';

/** One change to an instance or its server: what it does, in words, and how. */
export interface Action {
  describe: string;
  run: () => Promise<void>;
}

/** What a hooks command did to one instance. */
export interface HookOutcome {
  instance: string;
  /** 0 done (or nothing to do), 3 could not start (nothing changed), 4 stopped half-way (needs a human). */
  exitCode: number;
  /** The one-line result. */
  summary: string;
  /** The changes made (or, with --dry-run, that would be made), in order. */
  changes: string[];
  notes: string[];
  /** Why it did not finish. */
  error: string | null;
}

/** The plan for one instance: read-only to make; its actions change things in order. */
export interface Plan {
  instance: string;
  actions: Action[];
  notes: string[];
  /** The summary when every action ran, and when there were none. */
  done: string;
  nothingToDo: string;
}

/** A plan could not be made: LXD or the instance said no, or a prerequisite is missing. Nothing changed. */
export function couldNotStart(instance: string, error: unknown): HookOutcome {
  if (error instanceof LxdError || error instanceof CannotInstall) {
    return { instance, exitCode: EXIT.couldNotStart, summary: `${error.message}; nothing changed`, changes: [], notes: [], error: error.message };
  }
  throw error;
}

/**
 * Runs the plan's actions in order and stops at the first that fails: the changes made so far are
 * named, with how to finish (install again, which only does what is missing) or undo them (uninstall).
 */
export async function applyPlan(plan: Plan, options: { dryRun: boolean; retry: string }): Promise<HookOutcome> {
  const outcome: HookOutcome = { instance: plan.instance, exitCode: EXIT.ok, summary: '', changes: [], notes: plan.notes, error: null };
  if (plan.actions.length === 0) return { ...outcome, summary: plan.nothingToDo };
  if (options.dryRun) return { ...outcome, summary: `would change ${plan.actions.length} thing(s) (dry run; nothing changed)`, changes: plan.actions.map((a) => a.describe) };
  for (const action of plan.actions) {
    try {
      await action.run();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const done = outcome.changes.length;
      return {
        ...outcome,
        exitCode: done === 0 ? EXIT.couldNotStart : EXIT.needsHuman,
        summary: done === 0
          ? `could not ${action.describe}: ${message}; nothing changed`
          : `stopped half-way: could not ${action.describe}: ${message}. ${done} change(s) made before it; ${options.retry}`,
        error: message,
      };
    }
    outcome.changes.push(action.describe);
  }
  return { ...outcome, summary: plan.done };
}
