import type { CheckResult } from '../checks/check.js';
import type { StepRecord } from '../report/report.js';

/** What a run tells its views (task list, line output, verbose log) as it goes. */
export type RunEvent =
  | { type: 'step-start'; action: string; title: string }
  | { type: 'step-end'; step: StepRecord }
  | { type: 'check'; result: CheckResult }
  | { type: 'output'; chunk: string }
  | { type: 'update-owns-terminal'; owns: boolean }
  /** Steps that belong together (a rollback), announced with the actions they will take. */
  | { type: 'group-start'; title: string; actions: string[] }
  | { type: 'group-end' }
  | { type: 'warning'; message: string }
  /** How a long step is getting on (the soak's time left), for the view of the step in progress. */
  | { type: 'progress'; message: string };

export type Emit = (event: RunEvent) => void;
