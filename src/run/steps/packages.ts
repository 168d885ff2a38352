import { lastLine } from '../../checks/exec-check.js';
import { countBumps, diffInventories, INVENTORY_SCRIPT, parseInventory, type Inventory, type PackageChange } from '../../packages/inventory.js';
import { describeChange, refusedChanges, type UpgradePolicy } from '../../packages/policy.js';
import { parseSimulation, simulationOf } from '../../packages/simulate.js';
import type { PackageManager } from '../../packages/versions.js';
import type { Failure } from '../types.js';
import { Refusal, step, warn, type RunScope } from './scope.js';

/** Bounds an inventory or a simulation: both read a database and should answer in seconds. */
const PACKAGE_READ_TIMEOUT_MS = 120_000;

/**
 * The installed packages, in one `exec`. Read-only, and evidence rather than a precondition: one
 * that cannot be read is a warning, and the report then lists no changes instead of guessing.
 */
export async function readInventory(scope: RunScope, when: 'before' | 'after'): Promise<Inventory | null> {
  const outcome = await step(scope, `packages-${when}`, `Packages (${when} the update)`, async () => {
    const result = await scope.context.lxd.exec(scope.ref, ['sh', '-c', INVENTORY_SCRIPT], { timeoutMs: PACKAGE_READ_TIMEOUT_MS });
    if (result.exitCode !== 0) throw new Refusal(`the inventory exited ${result.exitCode ?? result.signal}${lastLine(result.stderr) ? `: ${lastLine(result.stderr)}` : ''}`);
    const inventory = parseInventory(result.stdout);
    return { message: `${inventory.packages.size} installed (${inventory.manager})`, inventory };
  });
  if (outcome.ok) return outcome.value.inventory;
  warn(scope, `could not read the installed packages ${when} the update: ${outcome.message}; the report lists no package changes`);
  return null;
}

/** What the update changed, between the inventories before and after it. */
export function recordChanges(scope: RunScope, before: Inventory, after: Inventory): PackageChange[] {
  return recordPackages(scope, after.manager, diffInventories(before, after), false);
}

/**
 * What apt says the command would change (`apt-get -s`, changing nothing), recorded in the
 * report; or why it cannot say.
 */
export async function simulatePackages(scope: RunScope, command: string[]): Promise<{ changes: PackageChange[] } | { reason: string }> {
  const plan = simulationOf(command);
  if ('reason' in plan) return plan;
  const outcome = await step(scope, 'simulate', `Simulate: ${plan.argv.join(' ')}`, async () => {
    const result = await scope.context.lxd.exec(scope.ref, plan.argv, { timeoutMs: PACKAGE_READ_TIMEOUT_MS, env: { LC_ALL: 'C' } });
    if (result.exitCode !== 0) throw new Refusal(`${plan.argv.join(' ')} exited ${result.exitCode ?? result.signal}${lastLine(result.stderr) ? `: ${lastLine(result.stderr)}` : ''}`);
    const changes = parseSimulation(result.stdout);
    return { message: changes.length ? `${changes.length} package(s) would change` : 'no package would change', changes };
  });
  if (!outcome.ok) return { reason: outcome.message };
  return { changes: recordPackages(scope, 'dpkg', outcome.value.changes, true) };
}

/** The policy's refusal, before anything changed: a failure naming each package, or null to go on. */
export async function refuseByPolicy(scope: RunScope, command: string[], policy: UpgradePolicy & { refuse: NonNullable<UpgradePolicy['refuse']> }): Promise<Failure | null> {
  const simulated = await simulatePackages(scope, command);
  if ('reason' in simulated) {
    return { step: 'simulate', message: `--refuse ${policy.refuse} needs apt's simulation, and there is none: ${simulated.reason}; nothing changed` };
  }
  const refused = refusedChanges(simulated.changes, policy);
  if (!refused.length) return null;
  const allow = [...new Set(refused.map((change) => change.name.replace(/:[^:]+$/, '')))].map((name) => `--allow ${name}`).join(' ');
  return { step: 'simulate', message: `refused by --refuse ${policy.refuse}: ${refused.map(describeChange).join(', ')}; nothing changed (${allow} lets it through)` };
}

function recordPackages(scope: RunScope, manager: PackageManager, changes: PackageChange[], simulated: boolean): PackageChange[] {
  scope.item.packages = { manager, simulated, changes, counts: countBumps(changes), snapshotDeleted: false };
  return changes;
}
