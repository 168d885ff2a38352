// The hook broker's protocol: what root inside a hooked container may ask of the host, and nothing
// else. One request per connection, one JSON object on one line; one answer, one JSON line. Every
// string comes from inside the container, so the parse is strict: unknown fields, wrong types,
// control characters and anything over the size bounds are refused, never repaired.
import { z } from 'zod';

/** A request line may not be longer: the largest real one (a result with its checks) is a few KiB. */
export const MAX_REQUEST_BYTES = 16 * 1024;
export const PROTOCOL_VERSION = 1;

/** Printable text only: a terminal escape or a CI workflow command must not reach a host's log or terminal. */
const text = (max: number) => z.string().max(max).regex(/^[^\x00-\x1f\x7f-\x9f]*$/, 'control characters');
/** The run: the apt process's identity inside (boot id, pid, start time), the same for every dpkg call of one apt run. */
const runId = z.string().regex(/^[A-Za-z0-9:._-]{1,128}$/, 'not a run id');
/** A fresh random token per request, also written where only the instance itself can write it (see identity.ts). */
const token = z.string().regex(/^[0-9a-f]{32}$/, 'not a token');
const unit = z.string().regex(/^[A-Za-z0-9:._@\\-]{1,256}$/, 'not a unit name');

const snapshotRequest = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  request: z.literal('snapshot'),
  run: runId,
  token,
  /** The apt command line as the hook saw it, for the record. */
  command: text(1024),
  /** The user at the keyboard, for the record. */
  user: text(128),
  /** Units failed before dpkg ran: the baseline a later rollback judges against. */
  failedUnits: z.array(unit).max(256),
});

const checkLine = z.strictObject({
  name: text(512),
  status: z.enum(['ok', 'warning', 'failed']),
  message: text(1024),
});

const resultRequest = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  request: z.literal('result'),
  run: runId,
  token,
  checks: z.array(checkLine).max(64),
});

const request = z.discriminatedUnion('request', [snapshotRequest, resultRequest]);

export type SnapshotRequest = z.infer<typeof snapshotRequest>;
export type ResultRequest = z.infer<typeof resultRequest>;
export type BrokerRequest = z.infer<typeof request>;
export type CheckLine = z.infer<typeof checkLine>;

/** A request line as received; an Error with the reason when it is not exactly one of the two requests. */
export function parseRequest(line: string): BrokerRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error('not JSON');
  }
  const parsed = request.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not a request: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}

/** The broker's answer: `ok` with what was done, or the reason it refused, for the hook to print. */
export type BrokerAnswer =
  | { ok: true; snapshot: string | null; expiresAt: string | null; seconds: number; reused: boolean; rollback: string | null }
  | { ok: false; error: string };

export function answerLine(answer: BrokerAnswer): string {
  return `${JSON.stringify(answer)}\n`;
}

/** A string from inside, made safe to show in one line of a log or a terminal (for refusals that quote it). */
export function printable(value: string, max = 200): string {
  const flat = value.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
