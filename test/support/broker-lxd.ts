import { readFile } from 'node:fs/promises';
import { LxdError } from '../../src/errors.js';
import type { HandleDeps } from '../../src/hooks/broker/handle.js';
import { emptyMemory, type BrokerMemory } from '../../src/hooks/broker/memory.js';
import type { Registration } from '../../src/hooks/broker/registration.js';
import { LXC } from '../../src/lxd/dialect.js';
import type { InstanceRef, Lxd, Snapshot } from '../../src/lxd/lxd.js';

export const BROKER_UUID = '5c1d7a52-0f3e-4b8e-9a61-2d4f0c9e7b13';

/** The registration `hooks install --mode snapshot` writes for web1 in the default project. */
export function brokerRegistration(overrides: Partial<Registration> = {}): Registration {
  return {
    key: 'lxc.default.web1', client: 'lxc', daemonDir: '/var/lib/lxd', project: 'default', instance: 'web1', uuid: BROKER_UUID,
    hostInstance: 'web1', hostOptions: '', expirySeconds: 86_400, maxSnapshots: 10, maxSnapshotsPerWindow: 3, rateWindowSeconds: 600, version: '9.8.7',
    ...overrides,
  };
}

/**
 * The four calls the broker makes to LXD, unscripted: the instance's config (its volatile.uuid, or
 * gone), a file read inside it (the token: from a file on disk, or a fixed answer), its snapshots,
 * and a snapshot taken (recorded, and then listed). Every call is recorded in `calls`.
 */
export class BrokerLxd {
  readonly dialect = LXC;
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  config: Record<string, string> | 'gone' = { 'volatile.uuid': BROKER_UUID };
  /** Where readFile reads the token from (the instance's own file below a test root), or what it answers. */
  tokenFile: string | null = null;
  tokenText: string | null = null;
  /** Answers of successive reads, before tokenFile and tokenText: for requests served one after another. */
  tokenQueue: string[] = [];
  readError: Error | null = null;
  snapshots: Snapshot[] = [];
  createError: Error | null = null;
  /** How long a snapshot takes. */
  createDelayMs = 0;
  readonly created: Array<{ ref: InstanceRef; name: string; expiresAt: Date | null }> = [];

  async getConfig(ref: InstanceRef): Promise<Record<string, string>> {
    this.calls.push({ method: 'getConfig', args: [ref] });
    if (this.config === 'gone') throw new LxdError(`Instance not found`, 'not-found', []);
    return { ...this.config };
  }

  async readFile(ref: InstanceRef, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null> {
    this.calls.push({ method: 'readFile', args: [ref, path, limits] });
    if (this.readError) throw this.readError;
    if (this.tokenQueue.length) return this.tokenQueue.shift()!;
    if (this.tokenFile) return readFile(this.tokenFile, 'utf8').catch(() => null);
    return this.tokenText;
  }

  async listSnapshots(ref: InstanceRef): Promise<Snapshot[]> {
    this.calls.push({ method: 'listSnapshots', args: [ref] });
    return [...this.snapshots];
  }

  async createSnapshot(ref: InstanceRef, name: string, expiresAt: Date | null): Promise<void> {
    this.calls.push({ method: 'createSnapshot', args: [ref, name, expiresAt] });
    if (this.createDelayMs) await new Promise((resolve) => setTimeout(resolve, this.createDelayMs));
    if (this.createError) throw this.createError;
    this.created.push({ ref, name, expiresAt });
    this.snapshots.push(snapshot(name, expiresAt?.toISOString() ?? null));
  }

  asLxd(): Lxd {
    return this as unknown as Lxd;
  }
}

export function snapshot(name: string, expiresAt: string | null = null): Snapshot {
  return { name, createdAt: new Date().toISOString(), expiresAt, stateful: false, sizeBytes: null };
}

/** A broker's dependencies over a BrokerLxd, with its memory in reach and the times it saved it counted. */
export function brokerDeps(lxd: BrokerLxd, stateDir: string, options: { registration?: Registration; memory?: BrokerMemory; now?: () => Date } = {}) {
  const saved = { count: 0 };
  const deps: HandleDeps = {
    lxd: lxd.asLxd(),
    stateDir,
    registration: options.registration ?? brokerRegistration(),
    memory: options.memory ?? emptyMemory(),
    remember: async () => {
      saved.count += 1;
    },
    now: options.now ?? (() => new Date()),
  };
  return { deps, saved };
}
