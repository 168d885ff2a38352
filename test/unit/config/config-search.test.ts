import { resolve } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// Which files exist, and what they hold: the search runs from the working directory and /etc, which
// a test must not touch (and process.chdir is not allowed in test workers).
const files = new Map<string, string>();
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return { ...fs, existsSync: (path: string) => files.has(String(path)) };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    readFile: async (path: string, encoding?: unknown) => {
      const text = files.get(String(path));
      if (text === undefined) return fs.readFile(path, encoding as BufferEncoding);
      return text;
    },
  };
});

const { CONFIG_SEARCH, loadConfig } = await import('../../../src/config/config-file.js');

beforeEach(() => files.clear());

describe('finding the config file', () => {
  it('searches ./safeupdate.yaml, then /etc/safeupdate/config.yaml', () => {
    expect(CONFIG_SEARCH).toEqual(['./safeupdate.yaml', '/etc/safeupdate/config.yaml']);
  });

  it('without either: no config, and no file named', async () => {
    expect(await loadConfig(undefined)).toStrictEqual({ file: null });
  });

  it('reads /etc/safeupdate/config.yaml when there is no ./safeupdate.yaml', async () => {
    files.set('/etc/safeupdate/config.yaml', 'defaults:\n  timeout: 5m\n');
    expect(await loadConfig(undefined)).toStrictEqual({ file: '/etc/safeupdate/config.yaml', defaults: { timeout: '5m' } });
  });

  it('./safeupdate.yaml wins over /etc, and is named by its full path', async () => {
    files.set('./safeupdate.yaml', 'defaults:\n  timeout: 1m\n');
    files.set('/etc/safeupdate/config.yaml', 'defaults:\n  timeout: 5m\n');
    expect(await loadConfig(undefined)).toStrictEqual({ file: resolve('safeupdate.yaml'), defaults: { timeout: '1m' } });
  });

  it('--config is read even when a searched file exists', async () => {
    files.set('./safeupdate.yaml', 'defaults:\n  timeout: 1m\n');
    files.set('/srv/site.yaml', 'defaults:\n  timeout: 9m\n');
    expect(await loadConfig('/srv/site.yaml')).toStrictEqual({ file: '/srv/site.yaml', defaults: { timeout: '9m' } });
  });
});
