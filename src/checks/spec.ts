import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { parseDuration, TIMER_LIMIT } from '../config/duration.js';
import type { CheckEntry } from '../config/check-entry.js';
import { UsageError } from '../errors.js';
import { IP_PLACEHOLDER } from './address.js';
import { DEFAULT_TIMING, type CheckDefinition, type CheckSpec, type HttpsTrust, type ProbeTiming } from './check.js';

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;
const HOST = /^(\{ip\}|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$/;
const KINDS = 'systemd, unit:<name>, exec:<command>, http(s)://host:port/path or tcp:host:port';

/**
 * Parses a check as written on the command line or as a config string: `systemd`, `unit:<name>`,
 * `exec:<shell command>`, `http://…`, `https://…`, `tcp:<host>:<port>`. A check that could never
 * succeed is bad input. `tls` (config file only) is how an https check trusts the certificate.
 */
export function parseCheckSpec(text: string, expect: string | null = null, tls?: HttpsTrust): CheckSpec {
  if (text === 'systemd') return { kind: 'systemd' };
  if (/^https?:\/\//.test(text)) return { kind: 'http', url: validUrl(text), expect, ...(tls ? { tls } : {}) };
  const colon = text.indexOf(':');
  const kind = colon > 0 ? text.slice(0, colon) : text;
  const value = colon > 0 ? text.slice(colon + 1) : '';
  switch (kind) {
    case 'unit':
      if (!UNIT_NAME.test(value)) throw new UsageError(`check "${text}": "${value}" is not a systemd unit name`);
      return { kind: 'unit', unit: value };
    case 'exec':
      if (value.trim() === '') throw new UsageError(`check "${text}": exec needs a shell command, like exec:'test -f /ok'`);
      return { kind: 'exec', command: value };
    case 'tcp':
      return parseTcp(text, value);
    default:
      throw new UsageError(`check "${text}": unknown check kind "${kind}"; use ${KINDS}`);
  }
}

function validUrl(text: string): string {
  let url: URL;
  try {
    // {ip} is filled in at each attempt; a stand-in address lets the rest be checked now.
    url = new URL(text.replaceAll(IP_PLACEHOLDER, '192.0.2.1'));
  } catch {
    throw new UsageError(`check "${text}": not a valid URL`);
  }
  if (!url.hostname) throw new UsageError(`check "${text}": the URL has no host`);
  return text;
}

function parseTcp(text: string, value: string): CheckSpec {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !HOST.test(host) || !Number.isInteger(port) || port < 1 || port > 65_535 || !/^\d+$/.test(value.slice(colon + 1))) {
    throw new UsageError(`check "${text}": expected tcp:<host>:<port> with a port from 1 to 65535, like tcp:{ip}:53`);
  }
  return { kind: 'tcp', host: host.replace(/^\[(.*)\]$/, '$1'), port };
}

export function defineCheck(text: string, overrides: Partial<Omit<CheckDefinition, 'spec' | 'timing'>> & { timing?: Partial<ProbeTiming> } = {}): CheckDefinition {
  return {
    name: overrides.name ?? text,
    spec: parseCheckSpec(text),
    required: overrides.required ?? true,
    timing: { ...DEFAULT_TIMING, ...overrides.timing },
  };
}

/** A check from the config file: a string as on the command line, or a mapping with its settings. */
export function checkFromEntry(entry: CheckEntry): CheckDefinition {
  if (typeof entry === 'string') return defineCheck(entry);
  const spec = entry.systemd
    ? 'systemd'
    : entry.unit !== undefined
      ? `unit:${entry.unit}`
      : entry.exec !== undefined
        ? `exec:${entry.exec}`
        : entry.tcp !== undefined
          ? `tcp:${entry.tcp}`
          : entry.http!;
  const timing: Partial<ProbeTiming> = {};
  // Every timing ends up in a timer.
  if (entry.timeout) timing.timeoutMs = parseDuration(entry.timeout, 'timeout', TIMER_LIMIT);
  if (entry.interval) timing.intervalMs = parseDuration(entry.interval, 'interval', TIMER_LIMIT);
  if (entry.deadline) timing.deadlineMs = parseDuration(entry.deadline, 'deadline', TIMER_LIMIT);
  if (entry.settle) timing.settleMs = parseDuration(entry.settle, 'settle', TIMER_LIMIT);
  if (entry.expect !== undefined && entry.http === undefined) throw new UsageError('expect: only an http check has an expected body');
  return {
    name: entry.name ?? spec,
    spec: parseCheckSpec(spec, entry.expect ?? null, httpsTrust(entry)),
    required: entry.required ?? true,
    timing: { ...DEFAULT_TIMING, ...timing },
  };
}

/** `ca: FILE` or `insecure: true`, only on an https:// check; the CA file is read now. */
function httpsTrust(entry: Exclude<CheckEntry, string>): HttpsTrust | undefined {
  if (entry.ca === undefined && entry.insecure === undefined) return undefined;
  const key = entry.ca !== undefined ? 'ca' : 'insecure';
  if (entry.http === undefined) throw new UsageError(`${key}: only an https check has a certificate to verify`);
  if (!/^https:\/\//.test(entry.http)) throw new UsageError(`${key}: "${entry.http}" is not an https:// URL, so there is no certificate to verify`);
  if (entry.ca !== undefined && entry.insecure === true) throw new UsageError('ca and insecure: give one of them; insecure skips verification, so the CA would not be used');
  if (entry.ca !== undefined) return { ca: readCa(entry.ca), caFile: entry.ca };
  return entry.insecure ? { insecure: true } : undefined;
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`ca: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no BEGIN CERTIFICATE');
    new X509Certificate(pem);
  } catch {
    throw new UsageError(`ca: ${file} is not a PEM certificate (-----BEGIN CERTIFICATE----- …)`);
  }
  return pem;
}
