import { describe, expect, it } from 'vitest';
import { execResult, FakeLxd, isCommand, settle } from '../../support/fake-lxd.js';

// The fake itself: what the tests of concurrent work rely on.

const ref = { remote: 'local', name: 'web1', project: 'default' };

describe('the scripted fake LXD', () => {
  it('takes the calls of a `together` group in any order, and the rest in the script order', async () => {
    const lxd = new FakeLxd();
    lxd.together(() => {
      lxd.expect('exec', () => execResult({ stdout: 'a' }), isCommand(['a']), 'a');
      lxd.expect('exec', () => execResult({ stdout: 'b' }), isCommand(['b']), 'b');
    });
    lxd.expect('exec', () => execResult({ stdout: 'c' }), isCommand(['c']), 'c');
    expect((await lxd.exec(ref, ['b'])).stdout).toBe('b');
    expect((await lxd.exec(ref, ['a'])).stdout).toBe('a');
    expect((await lxd.exec(ref, ['c'])).stdout).toBe('c');
    lxd.assertDone();
  });

  it('still refuses a call from after the group while the group is unfinished', async () => {
    const lxd = new FakeLxd();
    lxd.together(() => {
      lxd.expect('exec', () => execResult(), isCommand(['a']), 'a');
      lxd.expect('exec', () => execResult(), isCommand(['b']), 'b');
    });
    lxd.expect('exec', () => execResult(), isCommand(['c']), 'c');
    await lxd.exec(ref, ['a']);
    await expect(lxd.exec(ref, ['c'])).rejects.toThrow(/unexpected lxd.exec.*expected b/);
  });

  it('holds open only the call its matcher names', async () => {
    const lxd = new FakeLxd();
    lxd.together(() => {
      lxd.expect('exec', () => execResult({ stdout: 'a' }), isCommand(['a']), 'a');
      lxd.expect('exec', () => execResult({ stdout: 'b' }), isCommand(['b']), 'b');
    });
    const held = lxd.holdNext('exec', isCommand(['b']));
    const b = lxd.exec(ref, ['b']);
    await held.started;
    expect((await lxd.exec(ref, ['a'])).stdout).toBe('a');
    let done = false;
    void b.then(() => (done = true));
    await settle(20);
    expect(done).toBe(false);
    held.release();
    expect((await b).stdout).toBe('b');
    lxd.assertDone();
  });
});
