import { UsageError } from '../errors.js';
import { DEFAULT_TIMING, type CheckDefinition, type CheckSpec, type ProbeTiming } from './check.js';

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;

/** Parses a `--check` string: `systemd`, `unit:<name>`, `exec:<shell command>`. */
export function parseCheckSpec(text: string): CheckSpec {
  if (text === 'systemd') return { kind: 'systemd' };
  const colon = text.indexOf(':');
  const kind = colon > 0 ? text.slice(0, colon) : text;
  const value = colon > 0 ? text.slice(colon + 1) : '';
  switch (kind) {
    case 'unit':
      if (!UNIT_NAME.test(value)) {
        throw new UsageError(`check "${text}": "${value}" is not a systemd unit name`);
      }
      return { kind: 'unit', unit: value };
    case 'exec':
      if (value.trim() === '') throw new UsageError(`check "${text}": exec needs a shell command, like exec:'test -f /ok'`);
      return { kind: 'exec', command: value };
    default:
      throw new UsageError(`check "${text}": unknown check kind "${kind}"; use systemd, unit:<name> or exec:<command>`);
  }
}

export function defineCheck(text: string, overrides: Partial<Omit<CheckDefinition, 'spec'>> & { timing?: Partial<ProbeTiming> } = {}): CheckDefinition {
  return {
    name: overrides.name ?? text,
    spec: parseCheckSpec(text),
    required: overrides.required ?? true,
    timing: { ...DEFAULT_TIMING, ...overrides.timing },
  };
}
