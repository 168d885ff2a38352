// A check as a config file lists it, apart from the rest of the schema: the check parser
// (checks/spec.ts) takes this shape, and the config schema validates with the parser, so both
// depend on this module instead of on each other.
import { z } from 'zod';
import { readDuration, tooLong, TIMER_LIMIT, type DurationLimit } from './duration.js';

/** A duration key: a value past what its use can honour names the limit; `never` where allowed. */
export const durationUpTo = (max: DurationLimit, expected: string, never = false) =>
  z.string({ error: expected }).superRefine((text, context) => {
    if (never && text === 'never') return;
    const ms = readDuration(text);
    if (ms === null || ms === 0) context.addIssue({ code: 'custom', message: expected });
    else if (ms > max.ms) context.addIssue({ code: 'custom', message: tooLong(text, max) });
  });

/** Check timings and the update's timeout all end up in a timer. */
export const duration = durationUpTo(TIMER_LIMIT, 'expected a duration like 5s');

const CHECK_KINDS = ['exec', 'unit', 'systemd', 'http', 'tcp'] as const;

const checkObject = z
  .strictObject({
    exec: z.string().optional(),
    unit: z.string().optional(),
    systemd: z.literal(true).optional(),
    http: z.string().optional(),
    tcp: z.string().optional(),
    name: z.string().min(1).optional(),
    expect: z.string().optional(),
    ca: z.string({ error: 'expected the path of a PEM file' }).min(1, { error: 'expected the path of a PEM file' }).optional(),
    insecure: z.boolean({ error: 'expected true or false' }).optional(),
    required: z.boolean({ error: 'expected true or false' }).optional(),
    timeout: duration.optional(),
    interval: duration.optional(),
    deadline: duration.optional(),
    settle: duration.optional(),
  })
  .refine((check) => CHECK_KINDS.filter((kind) => check[kind] !== undefined).length === 1, {
    error: `expected exactly one of ${CHECK_KINDS.join(', ')}`,
  });

export const checkEntry = z.union([z.string(), checkObject], { error: 'expected a check: a string like "unit:nginx" or a mapping like {unit: nginx}' });

export type CheckEntry = z.infer<typeof checkEntry>;
