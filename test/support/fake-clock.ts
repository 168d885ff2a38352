import type { Clock } from '../../src/checks/probe.js';

/** Time that moves only when the code under test sleeps, so probe loops run instantly. */
export class FakeClock implements Clock {
  constructor(public current = Date.parse('2026-11-26T10:00:00Z')) {}
  readonly sleeps: number[] = [];
  now(): number {
    return this.current;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
