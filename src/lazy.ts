import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS library loaded the first time it is used, not when the CLI starts: `--help` or a
 * `check` should not pay for prompts, XML or version parsing it never uses.
 */
export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
