import { readFileSync } from 'node:fs';

/** A unit file's settings: section → key → every value given, in order (a key may repeat). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** Reads a unit file as systemd does: sections, `Key=value`, comments, lines continued with `\`. */
export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | null = null;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === null || eq < 1) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export function readUnitFile(path: string): UnitFile {
  return parseUnitFile(readFileSync(path, 'utf8'));
}

/** The one value of a setting; fails when it is missing or given more than once. */
export function setting(unit: UnitFile, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  if (values.length !== 1) throw new Error(`[${section}] ${key}= is given ${values.length} times`);
  return values[0]!;
}

export function hasSetting(unit: UnitFile, section: string, key: string): boolean {
  return (unit.get(section)?.get(key) ?? []).length > 0;
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', ' ': ' ' };

/**
 * An ExecStart= line split into words as systemd does (systemd.service, "Command lines"):
 * whitespace separates words, a word may be quoted whole in '…' or "…", backslash escapes.
 * Specifiers: `%i` and `%I` become `instance` (the same for instance names without escapes),
 * `%%` a percent sign. Anything this does not know (another specifier, `$VAR`, a prefix such as
 * `-` or `+`) is an error, so a test never runs something other than what systemd would.
 */
export function execArgv(line: string, instance: string): string[] {
  const words: string[] = [];
  let i = 0;
  const specifier = () => {
    const next = line[i + 1];
    i += 2;
    if (next === 'i' || next === 'I') return instance;
    if (next === '%') return '%';
    throw new Error(`unsupported specifier %${next} in: ${line}`);
  };
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    if (words.length === 0 && /[-@:+!]/.test(line[i]!)) throw new Error(`unsupported command prefix ${line[i]} in: ${line}`);
    const quote = line[i] === '"' || line[i] === "'" ? line[i]! : null;
    if (quote) i++;
    let word = '';
    for (;;) {
      if (i >= line.length) {
        if (quote) throw new Error(`unterminated quote in: ${line}`);
        break;
      }
      const c = line[i]!;
      if (quote ? c === quote : /\s/.test(c)) {
        if (quote) i++;
        break;
      }
      if (c === '\\') {
        const escaped = ESCAPES[line[i + 1] ?? ''];
        if (escaped === undefined) throw new Error(`unsupported escape \\${line[i + 1]} in: ${line}`);
        word += escaped;
        i += 2;
      } else if (c === '%') {
        word += specifier();
      } else if (c === '$') {
        throw new Error(`environment variable substitution is not supported: ${line}`);
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

/** `%i` in any other setting's value (a path, a description). */
export function expandInstance(value: string, instance: string): string {
  return value.replace(/%([iI%])/g, (_, s: string) => (s === '%' ? '%' : instance));
}
