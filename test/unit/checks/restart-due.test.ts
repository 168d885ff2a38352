import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeDue, isDue, parseRestartDue, RESTART_DUE_SCRIPT } from '../../../src/checks/restart-due.js';
import { restartDueOutput } from '../../support/fake-lxd.js';

// Whether an instance is due a restart: /run/reboot-required and its .pkgs, and processes that map
// files the disk no longer has (needrestart's method), as one exec prints them.

const parse = (due: Parameters<typeof restartDueOutput>[0]) => parseRestartDue(restartDueOutput(due).stdout);

describe('reading whether a restart is due', () => {
  it('nothing due: no reboot-required, no deleted mapping', () => {
    const due = parse({});
    expect(due).toEqual({ rebootRequired: false, packages: [], processes: [] });
    expect(isDue(due)).toBe(false);
    expect(describeDue(due)).toBeNull();
  });

  it('reboot-required names its packages, each once, in order', () => {
    const due = parse({ packages: ['libc6', 'dbus', 'libc6', '  ', 'safeupdate-demo'] });
    expect(due).toEqual({ rebootRequired: true, packages: ['libc6', 'dbus', 'safeupdate-demo'], processes: [] });
    expect(isDue(due)).toBe(true);
    expect(describeDue(due)).toBe('reboot-required by libc6, dbus, safeupdate-demo');
  });

  it('reboot-required without a .pkgs is due all the same', () => {
    const due = parse({ packages: [] });
    expect(isDue(due)).toBe(true);
    expect(describeDue(due)).toBe('reboot-required');
  });

  it('a process mapping a replaced library or binary is due, with its name and each file once', () => {
    const due = parse({
      maps: [
        [812, 'nginx', '/usr/lib/x86_64-linux-gnu/libssl.so.3'],
        [812, 'nginx', '/usr/lib/x86_64-linux-gnu/libssl.so.3'],
        [812, 'nginx', '/usr/sbin/nginx'],
        [49, 'busybox', '/usr/bin/busybox'],
      ],
    });
    expect(due.processes).toEqual([
      { pid: 49, command: 'busybox', files: ['/usr/bin/busybox'] },
      { pid: 812, command: 'nginx', files: ['/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/sbin/nginx'] },
    ]);
    expect(isDue(due)).toBe(true);
    expect(describeDue(due)).toBe('2 processes still run deleted files: busybox (49), nginx (812) using /usr/bin/busybox, /usr/lib/x86_64-linux-gnu/libssl.so.3, /usr/sbin/nginx');
  });

  it('keeps a path with spaces whole', () => {
    expect(parse({ maps: [[7, 'app', '/opt/my app/lib x.so']] }).processes[0]!.files).toEqual(['/opt/my app/lib x.so']);
  });

  it('ignores deleted mappings that no package replaced: shared memory, memfd, devices, temporary and data files', () => {
    const due = parse({
      maps: [
        [10, 'postgres', '/SYSV0052e2c1'],
        [11, 'chrome', '/memfd:wayland-shm'],
        [12, 'journald', '/var/log/journal/abc/system@x.journal~'],
        [13, 'x', '/dev/shm/sem.foo'],
        [14, 'x', '/tmp/ffi7sdX'],
        [15, 'x', '/run/user/0/thing'],
        [16, 'mysqld', '/var/lib/mysql/ibtmp1'],
        [17, 'x', '/[aio]'],
        [18, 'x', '/drm mm object'],
        [19, 'sshd', '/usr/sbin/sshd'],
      ],
    });
    expect(due.processes).toEqual([{ pid: 19, command: 'sshd', files: ['/usr/sbin/sshd'] }]);
  });

  it('counts only processes whose name it read: not the reading shell, not one that ended meanwhile', () => {
    const output = [
      '--- deleted',
      '/proc/5/maps:7f-8f r-xp 00000000 fd:01 12          /usr/lib/libc.so.6 (deleted)',
      '/proc/6/maps:7f-8f r-xp 00000000 fd:01 12          /usr/lib/libc.so.6 (deleted)',
      '--- comm',
      '6 cron',
      '',
    ].join('\n');
    expect(parseRestartDue(output).processes).toEqual([{ pid: 6, command: 'cron', files: ['/usr/lib/libc.so.6'] }]);
  });

  it('a process whose name came back empty is still due, named "?"', () => {
    const due = parseRestartDue('--- deleted\n/proc/9/maps:7f-8f r-xp 00000000 fd:01 12 /usr/bin/x (deleted)\n--- comm\n9 \n');
    expect(due.processes).toEqual([{ pid: 9, command: '', files: ['/usr/bin/x'] }]);
    expect(describeDue(due)).toBe('1 process still runs deleted files: ? (9) using /usr/bin/x');
  });

  it('lists the first three of many and counts the rest', () => {
    const due = parse({ packages: ['a', 'b', 'c', 'd', 'e'] });
    expect(describeDue(due)).toBe('reboot-required by a, b, c and 2 more');
  });

  it('output that is not the script\'s is an error, not "nothing due"', () => {
    expect(() => parseRestartDue('')).toThrow('unexpected output from the restart check');
    expect(() => parseRestartDue('sh: 1: grep: not found\n')).toThrow('unexpected output');
    expect(() => parseRestartDue('--- comm\n--- deleted\n')).toThrow('unexpected output');
  });

  it('the script reads both signs in one shell, one grep over every process, and always exits 0', () => {
    expect(RESTART_DUE_SCRIPT).toContain('/run/reboot-required');
    expect(RESTART_DUE_SCRIPT).toContain('"$f.pkgs"');
    expect(RESTART_DUE_SCRIPT.match(/grep /g)).toHaveLength(1);
    expect(RESTART_DUE_SCRIPT).toContain("grep -H ' (deleted)$' /proc/[0-9]*/maps");
    expect(RESTART_DUE_SCRIPT.trimEnd().endsWith('exit 0')).toBe(true);
  });

  it('the script runs in a POSIX shell (here, on this machine\'s /proc) and its output is read', () => {
    const output = execFileSync('sh', ['-c', RESTART_DUE_SCRIPT], { encoding: 'utf8' });
    expect(() => parseRestartDue(output)).not.toThrow();
    // The second part names exactly the processes the first found (minus the script's own shell).
    const found = new Set(output.split('--- comm')[0]!.match(/^\/proc\/\d+/gm)?.map((p) => p.slice(6)) ?? []);
    const named = output.split('--- comm\n')[1]!.split('\n').filter(Boolean).map((line) => line.split(' ')[0]);
    for (const pid of named) expect(found.has(pid!)).toBe(true);
  });
});
