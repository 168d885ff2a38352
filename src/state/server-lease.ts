import type { Clock } from '../checks/probe.js';
import { LxdError } from '../errors.js';
import type { InstanceRef, Lxd, ProfileRef } from '../lxd/lxd.js';
import { recoverCommand } from '../lxd/names.js';
import { isAlive } from './instance-record.js';
import { decode, describeHolder, describeLease, encode, KEY, leaseProfileName, type Lease, type LeaseHolder } from './lease-profile.js';
import { LeaseAwaitingRecovery, LeaseBusy, seize, UnreadableLease } from './lease-takeover.js';

/**
 * The lock between hosts: a profile on the instance's server, `safeupdate-lock_<project>_<instance>`,
 * attached to nothing. Every host that reaches the instance sees it; snapshots never capture it
 * and restores never revert it, because it is not part of the instance; a cluster shares it.
 *
 * Creating a profile whose name exists fails on the server: acquiring is a create. A lease that
 * expired (its holder stopped renewing) is taken over by renaming it to a name only the taker
 * uses: of two takers only one rename succeeds. Hosts' clocks are assumed to agree within
 * a quarter of the lease length; takeover waits that long past the holder's expiry.
 */

/** A write refused for the ETag of its read: what changed is not known, only that this run no longer knows the lease. */
const CHANGED_SINCE_READ = 'it changed on the server after it was read (another host took it over, or the profile was edited)';

/** Losing it in one round-trip is not enough to lose the lease: renewed four times per length. */
const RENEWALS_PER_LENGTH = 4;
const ACQUIRE_ATTEMPTS = 5;

export class ServerLease {
  readonly profile: ProfileRef;
  private held: Lease | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lost: string | null = null;
  /** Renewals, marks and the release one after another: a renewal in flight must not undo a release. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lxd: Lxd,
    private readonly ref: InstanceRef,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly lengthMs: number,
    /** Told once when a renewal finds the lease gone or someone else's: no further change may start. */
    private readonly onLost: (reason: string) => void = () => {},
  ) {
    this.profile = { remote: ref.remote, project: ref.project, name: leaseProfileName(ref) };
  }

  /** Why this run no longer holds its lease, or null while it does. */
  get lostReason(): string | null {
    return this.lost;
  }

  /**
   * Takes the lease. One whose holder is gone before it changed anything is taken over (returned,
   * for the message); one whose holder may have changed the instance is refused for `recover`.
   */
  async acquire(holder: LeaseHolder): Promise<{ tookOver: Lease | null }> {
    const mine = this.fresh(holder, { phase: 'preparing', snapshot: null });
    let tookOver: Lease | null = null;
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      if (await this.lxd.createProfile(this.profile, describeLease(mine, this.profile.name), encode(mine))) {
        this.held = mine;
        return { tookOver };
      }
      const current = await this.read();
      if (!current) continue;
      if (current.expiresAt === null) throw new LeaseAwaitingRecovery(current, this.profile.name, this.ref);
      if (!this.isStale(current, holder.hostId)) throw new LeaseBusy(current, this.profile.name);
      if (current.phase !== 'preparing') throw new LeaseAwaitingRecovery(current, this.profile.name, this.ref);
      if (await seize(this.lxd, this.profile, current)) tookOver = current;
    }
    // Each lap lost a race to another taker: whoever won holds it now.
    const winner = await this.read();
    if (winner) throw new LeaseBusy(winner, this.profile.name);
    throw new LxdError(`could not take the server lease ${this.profile.name} in ${ACQUIRE_ATTEMPTS} attempts (others kept taking and releasing it); nothing changed`, 'failed', []);
  }

  /**
   * For `recover`: takes over the lease of a run that is gone (its lease expired, or was kept for a
   * human), keeping what it says for the recovery. null: there is no lease.
   */
  async takeOverForRecovery(holder: LeaseHolder, localRunId: string | null): Promise<Lease | null> {
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      const { lease: current, etag } = await this.readTagged();
      if (!current) return null;
      // The local record already proved its run gone: the lease of that same run goes with it.
      const gone = current.expiresAt === null || current.runId === localRunId || this.isStale(current, holder.hostId);
      if (!gone) throw new LeaseBusy(current, this.profile.name);
      const mine = this.fresh(holder, { phase: current.phase, snapshot: current.snapshot, ...(current.baseline ? { baseline: current.baseline } : {}) });
      try {
        // Rewritten in place, never deleted and made anew: at no moment is there no lease, so a
        // plain run cannot slip in with a fresh `preparing` one and make the server forget the
        // instance needs recovery. The ETag of the read that judged it makes it one compare-and-swap:
        // of two takers, one write matches and the other is refused (412) and looks again.
        await this.lxd.setProfileConfig(this.profile, { ...encode(mine), [`${KEY}attention`]: '' }, etag);
      } catch (error) {
        if (error instanceof LxdError && (error.httpStatus === 412 || error.kind === 'not-found')) continue;
        throw error;
      }
      this.held = mine;
      return current;
    }
    const winner = await this.read();
    throw winner ? new LeaseBusy(winner, this.profile.name) : new LxdError(`could not take over the server lease ${this.profile.name}; nothing changed`, 'failed', []);
  }

  /** Renews the lease every quarter of its length until `stop`, `keepForRecovery` or `release`. */
  startRenewing(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew().catch(() => {}), this.lengthMs / RENEWALS_PER_LENGTH);
    // A pending renewal must never keep the process alive.
    this.timer.unref();
  }

  /** One renewal. An error talking to LXD is not a loss by itself: the lease's own expiry decides. */
  renew(): Promise<void> {
    return this.serial(() => this.write({}));
  }

  /**
   * Records how far the run got, renewing on the way. Returns why it could not, or null. Written
   * before the step it names, like the local record.
   */
  async mark(patch: Partial<Pick<Lease, 'phase' | 'snapshot' | 'baseline'>>): Promise<string | null> {
    try {
      await this.serial(() => this.write(patch));
    } catch (error) {
      return `could not update the server lease ${this.profile.name}: ${(error as Error).message}`;
    }
    return this.lost;
  }

  /** The run ended needing a human: the lease stays, never expiring, so no host starts on it. */
  keepForRecovery(): Promise<void> {
    this.stopRenewing();
    return this.serial(() => this.keep());
  }

  private async keep(): Promise<void> {
    const held = this.held;
    this.held = null;
    if (!held || this.lost) return;
    const { lease: current, etag } = await this.readTagged();
    if (current?.runId !== held.runId || current.hostId !== held.hostId) return;
    try {
      await this.lxd.setProfileConfig(this.profile, {
        [`${KEY}expiresAt`]: '',
        [`${KEY}attention`]: `the run ended needing a human; after checking ${held.instance}: ${recoverCommand(this.ref)}`,
      }, etag);
    } catch (error) {
      // Changed since the read: someone else's now (the local record still keeps the instance for recover).
      if (error instanceof LxdError && error.httpStatus === 412) return this.lose(CHANGED_SINCE_READ);
      throw error;
    }
  }

  /** Deletes the lease, only while it is still this run's. */
  release(): Promise<void> {
    this.stopRenewing();
    return this.serial(() => this.delete());
  }

  private async delete(): Promise<void> {
    const held = this.held;
    this.held = null;
    if (!held || this.lost) return;
    const current = await this.read().catch(() => null);
    if (current?.runId === held.runId && current.hostId === held.hostId) await this.lxd.deleteProfile(this.profile);
  }

  /**
   * `recover --forget`: removes a lease whose run is gone (expired, or kept for a human), or that
   * cannot be read; the caller asked the human first. A lease still renewed is refused.
   */
  async forget(myHostId: string): Promise<Lease | 'unreadable' | null> {
    let current: Lease | null;
    try {
      current = await this.read();
    } catch (error) {
      if (!(error instanceof UnreadableLease)) throw error;
      await this.lxd.deleteProfile(this.profile);
      return 'unreadable';
    }
    if (!current) return null;
    if (current.expiresAt !== null && !this.isStale(current, myHostId)) throw new LeaseBusy(current, this.profile.name);
    await this.lxd.deleteProfile(this.profile);
    return current;
  }

  /** Who holds the lease now, for the report of a run that lost it: one read, never a write. */
  async describeHolderNow(): Promise<string> {
    try {
      const current = await this.read();
      return current ? `held now by ${describeHolder(current)}, ${current.phase}` : 'no run holds it now';
    } catch (error) {
      return `who holds it now cannot be read (${(error as Error).message})`;
    }
  }

  /** The lease as the server has it; null when there is none. */
  async read(): Promise<Lease | null> {
    return (await this.readTagged()).lease;
  }

  /** The lease and the ETag of the profile that holds it, for a write that must follow exactly this read. */
  private async readTagged(): Promise<{ lease: Lease | null; etag: string | null }> {
    const profile = await this.lxd.getProfile(this.profile);
    if (!profile) return { lease: null, etag: null };
    try {
      return { lease: decode(profile.config), etag: profile.etag };
    } catch (error) {
      throw new UnreadableLease(this.profile.name, this.ref, (error as Error).message);
    }
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    this.queue = next.catch(() => {});
    return next;
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async write(patch: Partial<Pick<Lease, 'phase' | 'snapshot' | 'baseline'>>): Promise<void> {
    const held = this.held;
    if (!held || this.lost) return;
    // Past its own expiry (by this host's clock, which wrote it) another host may already have
    // taken it: renewing now could overwrite the taker's lease.
    if (held.expiresAt !== null && this.clock.now() > Date.parse(held.expiresAt)) {
      return this.lose(`it expired at ${held.expiresAt} before it could be renewed`);
    }
    const { lease: current, etag } = await this.readTagged();
    if (!current || current.runId !== held.runId || current.hostId !== held.hostId) {
      return this.lose(current ? `${describeHolder(current)} holds it now` : 'it is gone from the server');
    }
    const next: Lease = { ...held, ...patch, ...this.times() };
    try {
      // With the read's ETag: a takeover between the read and this write makes it fail, instead of
      // this renewal overwriting the taker's lease.
      await this.lxd.setProfileConfig(this.profile, encode(next, Object.keys(patch)), etag);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return this.lose('it is gone from the server');
      if (error instanceof LxdError && error.httpStatus === 412) return this.lose(CHANGED_SINCE_READ);
      throw error;
    }
    this.held = next;
  }

  private lose(reason: string): void {
    this.stopRenewing();
    this.lost = `the server lease ${this.profile.name} was lost: ${reason}`;
    this.onLost(this.lost);
  }

  private isStale(lease: Lease, myHostId: string): boolean {
    // On its own host a holder is known dead at once; elsewhere only its expiry tells, plus a
    // margin for clocks that disagree.
    if (lease.hostId === myHostId && !isAlive(lease)) return true;
    return lease.expiresAt !== null && this.clock.now() > Date.parse(lease.expiresAt) + this.lengthMs / RENEWALS_PER_LENGTH;
  }

  private fresh(holder: LeaseHolder, state: Pick<Lease, 'phase' | 'snapshot' | 'baseline'>): Lease {
    return { ...holder, ...state, ...this.times() };
  }

  private times(): Pick<Lease, 'renewedAt' | 'expiresAt'> {
    const now = this.clock.now();
    return { renewedAt: new Date(now).toISOString(), expiresAt: new Date(now + this.lengthMs).toISOString() };
  }
}
