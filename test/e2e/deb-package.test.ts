import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, lxc, removeAll } from './lab.js';
import { RELEASE, releaseBuild, type ReleaseBuild } from './release.js';

/** A command run inside the container as root; its exit code and output, never a throw. */
async function inside(name: string, script: string) {
  const result = await execa('lxc', ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore' });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Every path of the container's root file system but the ones that change by themselves (the
 * kernel's, runtime state, logs, caches) and dpkg's own database, which records the install.
 */
const FILES = `find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd \\) -prune -o -print | sort`;

// A fresh lab container (Debian 12, no Node, no network) as an operator's machine that installs the
// .deb: the executable runs there without Node, and removing the package leaves nothing behind.
describe('the .deb on a Debian 12 machine without Node', () => {
  let release: ReleaseBuild;
  let name: string;
  let filesBefore: string;

  beforeAll(async () => {
    release = await releaseBuild();
    name = await launch('deb');
    filesBefore = (await inside(name, FILES)).stdout;
    await lxc('file', 'push', release.deb, `${name}/tmp/`);
  });

  afterAll(removeAll);

  it('SHA256SUMS checks every artefact, as the install instructions use it', async () => {
    const check = await execa('sha256sum', ['--check', 'SHA256SUMS'], { cwd: RELEASE, reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
    expect(check.stdout.split('\n').sort()).toEqual([release.deb, release.executable, release.man, release.tarball].map((file) => `${basename(file)}: OK`).sort());
  });

  it('the machine has no Node', async () => {
    expect((await inside(name, 'command -v node')).exitCode).not.toBe(0);
    expect((await inside(name, 'command -v nodejs')).exitCode).not.toBe(0);
  });

  it('installs with dpkg -i: no maintainer scripts, the files where Debian wants them', async () => {
    const install = await inside(name, `dpkg -i /tmp/${basename(release.deb)}`);
    expect(install.exitCode, install.stderr + install.stdout).toBe(0);
    const scripts = await inside(name, 'ls /var/lib/dpkg/info/ | grep "^safeupdate\\." || true');
    expect(scripts.stdout.split('\n').filter((file) => /\.(preinst|postinst|prerm|postrm|config|triggers)$/.test(file))).toEqual([]);
    const listed = (await inside(name, 'dpkg -L safeupdate')).stdout.split('\n');
    expect(listed).toEqual(
      expect.arrayContaining([
        '/usr/bin/safeupdate',
        '/usr/share/safeupdate/hooks/apt/guard',
        '/usr/share/safeupdate/hooks/systemd/safeupdate-hook@.service',
        '/lib/systemd/system/safeupdate-upgrade@.service',
        '/lib/systemd/system/safeupdate-upgrade@.timer',
        '/usr/share/bash-completion/completions/safeupdate',
        '/usr/share/zsh/vendor-completions/_safeupdate',
        '/usr/share/fish/vendor_completions.d/safeupdate.fish',
        '/usr/share/man/man1/safeupdate.1.gz',
        '/usr/share/doc/safeupdate/copyright',
        '/usr/share/doc/safeupdate/changelog.Debian.gz',
      ]),
    );
    // Every installed file is as the package's md5sums say.
    const verified = await inside(name, 'dpkg --verify safeupdate');
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toBe('');
    // systemd reads the shipped units without complaint (--man=no: the image has no man to look up Documentation= with).
    const verify = await inside(name, 'systemd-analyze verify --man=no /lib/systemd/system/safeupdate-upgrade@.timer /lib/systemd/system/safeupdate-upgrade@.service 2>&1; echo "exit $?"');
    expect(verify.stdout).toContain('exit 0');
  });

  it('runs without Node: --version, --help, completion bash', async () => {
    const version = await inside(name, 'safeupdate --version');
    expect(version.exitCode, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(release.version);
    const help = await inside(name, 'safeupdate --help');
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    const completion = await inside(name, 'safeupdate completion bash');
    expect(completion.exitCode, completion.stderr).toBe(0);
    // What the package installed is what the executable prints.
    expect((await inside(name, 'cat /usr/share/bash-completion/completions/safeupdate')).stdout).toBe(completion.stdout);
  });

  it('has its man page: installed gzipped, and it renders (with the host\'s man: the image has no man-db)', async () => {
    const man = await inside(name, 'command -v man');
    const page = await execa('lxc', ['exec', name, '--', 'zcat', '/usr/share/man/man1/safeupdate.1.gz'], { stdin: 'ignore', stripFinalNewline: false });
    expect(page.stdout).toMatch(/^\.TH "SAFEUPDATE" "1"/);
    let rendered: string;
    if (man.exitCode === 0) {
      rendered = (await inside(name, 'MANWIDTH=80 man safeupdate')).stdout;
    } else {
      const dir = await mkdtemp(join(tmpdir(), 'safeupdate-man-'));
      try {
        await writeFile(join(dir, 'safeupdate.1'), page.stdout);
        rendered = (await execa('man', ['-l', join(dir, 'safeupdate.1')], { env: { MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } })).stdout;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    expect(rendered).toMatch(/^NAME\n\s+safeupdate - /m);
  });

  it('dpkg -r and --purge leave nothing behind', async () => {
    expect((await inside(name, 'dpkg -r safeupdate')).exitCode).toBe(0);
    expect((await inside(name, 'dpkg --purge safeupdate')).exitCode).toBe(0);
    expect((await inside(name, 'dpkg -s safeupdate')).exitCode).not.toBe(0);
    expect((await inside(name, 'command -v safeupdate')).exitCode).not.toBe(0);
    // The pushed .deb is in /tmp, outside the comparison.
    const filesAfter = (await inside(name, FILES)).stdout;
    const added = filesAfter.split('\n').filter((path) => !filesBefore.split('\n').includes(path));
    expect(added).toEqual([]);
  });
});
