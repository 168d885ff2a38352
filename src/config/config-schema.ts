// The config file's schema and parser: zod and yaml load only when a config file is read.
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { checkFromEntry } from '../checks/spec.js';
import { UsageError } from '../errors.js';
import { checkEntry, duration, durationUpTo } from './check-entry.js';
import { EXPIRY_LIMIT } from './duration.js';

/** The run settings a config section may hold: each is named as its command-line option. */
const settings = z.strictObject({
  checks: z.array(checkEntry, { error: 'expected a list of checks' }).optional(),
  expiry: durationUpTo(EXPIRY_LIMIT, 'expected a duration like 14d, or never', true).optional(),
  timeout: duration.optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected a variable name' }), z.string({ error: 'expected a string' })).optional(),
  force: z.boolean({ error: 'expected true or false' }).optional(),
  rollback: z.boolean({ error: 'expected true or false' }).optional(),
  keep: z.number({ error: 'expected a whole number of at least 1' }).int({ error: 'expected a whole number of at least 1' }).min(1, { error: 'expected a whole number of at least 1' }).optional(),
  'copy-to': z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*:$/, { error: 'expected a remote as <remote>:, like backup:' }).optional(),
  'keep-failed': z.boolean({ error: 'expected true or false' }).optional(),
  refuse: z.enum(['major', 'minor'], { error: 'expected major or minor' }).optional(),
  allow: z.array(z.string().min(1), { error: 'expected a list of package names or globs' }).optional(),
  'keep-unchanged': z.boolean({ error: 'expected true or false' }).optional(),
  soak: duration.optional(),
  restart: z.enum(['auto', 'always', 'never'], { error: 'expected auto, always or never' }).optional(),
  rehearse: z.union([z.boolean(), z.literal('force')], { error: 'expected true, false or force' }).optional(),
});

const configSchema = z.strictObject({
  defaults: settings.optional(),
  instances: z.record(z.string(), settings).optional(),
  /** Named fleets, used on the command line as `@name`. */
  groups: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a group name (letters, digits, - and _)' }), z.array(z.string(), { error: 'expected a list of instances' }).min(1, { error: 'expected at least one instance' })).optional(),
});

export type Settings = z.infer<typeof settings>;
export type Config = z.infer<typeof configSchema> & { file: string | null };

export function parseConfig(text: string, file: string): z.infer<typeof configSchema> {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? `:${error.linePos[0].line}` : '';
    throw new UsageError(`${file}${where}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UsageError(`${file}: ${formatPath(issue.path) || '(top level)'}: ${describeIssue(issue)}`);
  }
  // A check that can never succeed is bad input wherever it stands, not only for the instance at hand.
  const sections: Array<[string, Settings | undefined]> = [
    ['defaults', result.data.defaults],
    ...Object.entries(result.data.instances ?? {}).map(([name, section]): [string, Settings] => [`instances.${name}`, section]),
  ];
  for (const [path, section] of sections) {
    section?.checks?.forEach((entry, i) => {
      // A CA file is found beside the config file, wherever safeupdate is started from.
      if (typeof entry !== 'string' && entry.ca !== undefined) entry.ca = resolve(dirname(file), entry.ca);
      try {
        checkFromEntry(entry);
      } catch (error) {
        throw new UsageError(`${file}: ${path}.checks[${i}]: ${(error as Error).message}`);
      }
    });
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return issue.message;
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), '');
}
