import type { Clock } from '../../src/checks/probe.js';

/**
 * Time that moves only when the code under test sleeps, so probe loops run instantly. `current` is
 * the monotonic time; the wall clock is it plus whatever `stepWall` added (NTP, a resumed VM).
 */
export class FakeClock implements Clock {
  constructor(public current = Date.parse('2026-11-26T10:00:00Z')) {}
  readonly sleeps: number[] = [];
  private wallOffset = 0;
  now(): number {
    return this.current + this.wallOffset;
  }
  monotonic(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  /** The wall clock alone jumps (forward or back); no time passes. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }
}
