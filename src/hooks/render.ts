import { readFileSync } from 'node:fs';
import type { CheckDefinition } from '../checks/check.js';
import { shippedFile } from '../config/installation.js';
import type { HookMode } from './layout.js';

/** hooks/apt of this safeupdate (see config/installation.ts for where that is). */
export const TEMPLATE_DIR = shippedFile('hooks/apt/');

const cache = new Map<string, string>();

export function readTemplate(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${TEMPLATE_DIR}${name}`, 'utf8');
    cache.set(name, text);
  }
  return text;
}

/**
 * A hook file as installed: its version line names this package's version. `root` puts every path
 * the scripts use below a folder, for tests that run them on the host; installed files have none.
 */
export function renderTemplate(text: string, values: { version: string; root?: string }): string {
  return text.replaceAll('@VERSION@', values.version).replaceAll('@ROOT@', values.root ?? '');
}

const VERSION_LINE = /safeupdate-hook-version: (\S+)/;

/** The version line of an installed hook file; null when it has none. */
export function hookVersionOf(content: string): string | null {
  return VERSION_LINE.exec(content)?.[1] ?? null;
}

/** hook.conf: what the scripts need to know that only the host knows. */
export interface HookConfig {
  mode: HookMode;
  /** LXD's name for the instance. */
  instance: string;
  project: string;
  /** How the host command names the instance: `web1`, `backup:web1`. */
  hostInstance: string;
  /** The host command's options for it: `--project prod`, or empty in the default project. */
  hostOptions: string;
  /** Units `--disable-timers` turned off, for uninstall to turn on again. */
  disabledUnits: string[];
}

export function renderHookConf(config: HookConfig, version: string): string {
  const entries: Array<[string, string | number]> = [
    ['mode', config.mode],
    ['instance', config.instance],
    ['project', config.project],
    ['host_instance', config.hostInstance],
    ['host_options', config.hostOptions],
    ['disabled_units', config.disabledUnits.join(' ')],
  ];
  for (const [key, value] of entries) {
    if (/[\n\r]/.test(String(value))) throw new Error(`hook.conf: ${key} has a line break`);
  }
  return [
    `# safeupdate-hook-version: ${version}`,
    '# Written by "safeupdate hooks install" on the LXD host for the hooks in /usr/local/lib/safeupdate.',
    '# Install again rather than edit it: the next install rewrites it.',
    ...entries.map(([key, value]) => `${key}=${value}`),
    '',
  ].join('\n');
}

/** key=value lines; the first of each key counts, as for the scripts' su_conf. */
export function parseHookConf(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)=(.*)$/.exec(line);
    if (match && !(match[1]! in values)) values[match[1]!] = match[2]!;
  }
  return values;
}

export interface InContainerChecks {
  /** /etc/safeupdate/checks. */
  text: string;
  /** The checks it holds, by name. */
  run: string[];
  /** Configured checks that cannot run inside, with why. */
  skipped: string[];
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * The checks post-check runs after dpkg: the systemd check where the instance runs systemd, and the
 * instance's unit: and exec: checks. http and tcp checks are asked from the host; they stay there.
 */
export function renderChecks(configured: CheckDefinition[] | null, systemd: boolean, instance: string, version: string): InContainerChecks {
  const lines: string[] = [];
  const run: string[] = [];
  const skipped: string[] = [];
  const line = (kind: string, check: CheckDefinition | null, argument: string) => {
    const timing = check?.timing ?? { deadlineMs: 60_000, timeoutMs: 10_000 };
    lines.push([kind, check?.required === false ? 'no' : 'yes', seconds(timing.deadlineMs), seconds(timing.timeoutMs), argument].join('\t'));
    run.push(kind === 'systemd' ? 'systemd' : `${kind}:${argument}`);
  };
  const own = configured?.find((check) => check.spec.kind === 'systemd') ?? null;
  if (systemd) line('systemd', own, '');
  else if (own) skipped.push(`${own.name} (the instance does not run systemd)`);
  for (const check of configured ?? []) {
    const { spec } = check;
    if (spec.kind === 'unit') {
      if (systemd) line('unit', check, spec.unit);
      else skipped.push(`${check.name} (the instance does not run systemd)`);
    } else if (spec.kind === 'exec') {
      if (/[\t\n\r]/.test(spec.command)) skipped.push(`${check.name} (a tab or line break in the command)`);
      else line('exec', check, spec.command);
    } else if (spec.kind === 'http' || spec.kind === 'tcp') {
      skipped.push(`${check.name} (asked from the host; runs in safeupdate's own runs only)`);
    }
  }
  const text = [
    `# safeupdate-hook-version: ${version}`,
    `# The checks post-check runs after dpkg in ${instance}, from safeupdate's config on the LXD host.`,
    '# Install again rather than edit it. Tab-separated: KIND REQUIRED DEADLINE(s) TIMEOUT(s) ARGUMENT',
    ...lines,
    '',
  ].join('\n');
  return { text, run, skipped };
}
