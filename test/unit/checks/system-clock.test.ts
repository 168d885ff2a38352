import { describe, expect, it } from 'vitest';
import { startTimer, systemClock } from '../../../src/checks/probe.js';

describe("the system clock's monotonic side", () => {
  it('gives whole milliseconds, so that reports and views show "697ms", not "697.5342579999997ms"', async () => {
    const timer = startTimer(systemClock);
    await new Promise((resolve) => setTimeout(resolve, 3));
    for (let i = 0; i < 20; i++) expect(Number.isInteger(systemClock.monotonic())).toBe(true);
    expect(Number.isInteger(timer.elapsed())).toBe(true);
    expect(timer.elapsed()).toBeGreaterThanOrEqual(2);
  });
});
