/** Bad usage or invalid input: exit 2, and nothing has been touched. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A call to LXD (or Incus) failed. `kind` lets callers decide without parsing messages;
 * `unsupported`: the server lacks an API extension a feature needs.
 */
export class LxdError extends Error {
  override name = 'LxdError';
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'not-found' | 'timeout' | 'failed' | 'unsupported',
    readonly command: readonly string[],
    options?: { cause?: unknown; httpStatus?: number },
  ) {
    super(message, options);
    this.httpStatus = options?.httpStatus ?? null;
  }

  /** The API's HTTP status, where the API was spoken directly (412: the ETag no longer matched). */
  readonly httpStatus: number | null;
}

let changed = false;

/** Said once a step that may change an instance begins: a crash from then on exits 4, not 3. */
export function markInstanceMayHaveChanged(): void {
  changed = true;
}

export function instanceMayHaveChanged(): boolean {
  return changed;
}
