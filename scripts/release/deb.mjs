// safeupdate_<version>_amd64.deb, built with dpkg-deb from a staged tree: the single executable as
// /usr/bin/safeupdate, the hooks it installs under /usr/share/safeupdate, the systemd timer units,
// completions made by the executable itself, the man page, and Debian's copyright and changelog.
// No maintainer scripts: installing or removing the package touches no instance and no service.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { debianCopyright } from './copyright.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The units an operator enables as they are; the broker's units are templates `hooks install` writes. */
const SYSTEMD_UNITS = ['safeupdate-upgrade@.service', 'safeupdate-upgrade@.timer'];
/** Where each shell looks for a package's completion, and the file name it expects. */
const COMPLETIONS = {
  bash: 'usr/share/bash-completion/completions/safeupdate',
  zsh: 'usr/share/zsh/vendor-completions/_safeupdate',
  fish: 'usr/share/fish/vendor_completions.d/safeupdate.fish',
};

function put(path, content, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

/** gzip -9n: no name or time in the header, so the same input makes the same bytes. */
const gzip = (content) => gzipSync(content, { level: 9 });

function sizeKiB(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
  return Math.ceil(bytes / 1024);
}

/** The completion script for `shell` from the executable, or null where it has none (yet). */
function completion(executable, shell) {
  try {
    const text = execFileSync(executable, ['completion', shell], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return text.trim() ? text : null;
  } catch {
    return null;
  }
}

/**
 * Builds the .deb into `output` (staging in `workDir`); returns what it left out. `manifest`:
 * package.json; `debianVersion`: upstream version and Debian revision; `date`: the release's (the
 * commit's) time; `packages`: the libraries the executable bundles; `node`: the Node it carries;
 * `fast`: xz -1 instead of -6 (the tests: some 45 s instead of 3 min on two busy cores, 15% larger).
 */
export function buildDeb({ output, workDir, executable, manPage, manifest, debianVersion, date, packages, node, maintainer, fast = false }) {
  const root = join(workDir, 'deb');
  rmSync(root, { recursive: true, force: true });
  const doc = join(root, 'usr/share/doc/safeupdate');

  put(join(root, 'usr/bin/safeupdate'), readFileSync(executable), 0o755);
  // Templates, read by the executable and written into instances or the host with their own modes:
  // hooks/ without its READMEs (documentation for the repository) and without the units that are
  // installed as units below. Scripts are executable here too (lintian's script-not-executable).
  cpSync(join(ROOT, 'hooks'), join(root, 'usr/share/safeupdate/hooks'), {
    recursive: true,
    filter: (source) => !source.endsWith('/README.md') && !SYSTEMD_UNITS.some((unit) => source.endsWith(`/${unit}`)),
  });
  for (const entry of readdirSync(join(root, 'usr/share/safeupdate'), { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    chmodSync(path, entry.isDirectory() || readFileSync(path, 'utf8').startsWith('#!') ? 0o755 : 0o644);
  }
  // The executable is Node's official build, which links its own zlib (and more) statically: that
  // is what it is, not something a rebuild against Debian's libraries could change.
  put(
    join(root, 'usr/share/lintian/overrides/safeupdate'),
    '# /usr/bin/safeupdate is the official Node.js build with safeupdate inside; Node links zlib statically.\nembedded-library zlib [usr/bin/safeupdate]\n',
  );
  for (const unit of SYSTEMD_UNITS) put(join(root, 'lib/systemd/system', unit), readFileSync(join(ROOT, 'hooks/systemd', unit)));
  const skipped = [];
  for (const [shell, path] of Object.entries(COMPLETIONS)) {
    const text = completion(executable, shell);
    if (text) put(join(root, path), text);
    else skipped.push(`${shell} completion (safeupdate completion ${shell} gives none)`);
  }
  put(join(root, 'usr/share/man/man1/safeupdate.1.gz'), gzip(manPage));
  put(join(doc, 'copyright'), debianCopyright({ manifest, packages, node }));
  const changelog = [
    `safeupdate (${debianVersion}) unstable; urgency=medium`,
    '',
    `  * Release ${manifest.version}, built from the upstream sources with Node ${node.version} inside.`,
    '',
    ` -- ${maintainer}  ${date.toUTCString().replace('GMT', '+0000')}`,
    '',
  ].join('\n');
  put(join(doc, 'changelog.Debian.gz'), gzip(changelog));

  // dpkg --verify (and debsums) check the installed files against these.
  const files = readdirSync(root, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile());
  const md5sums = files
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
    .map((path) => `${createHash('md5').update(readFileSync(path)).digest('hex')}  ${relative(root, path)}\n`);
  put(join(root, 'DEBIAN/md5sums'), md5sums.join(''));
  const installedSize = sizeKiB(root);
  const shlibs = execFileSync('dpkg-shlibdeps', ['-O', join(root, 'usr/bin/safeupdate')], { cwd: shlibsSource(workDir), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const depends = /shlibs:Depends=(.*)/.exec(shlibs)?.[1];
  if (!depends) throw new Error(`dpkg-shlibdeps said nothing of the executable's libraries: ${shlibs}`);
  // Debian's synopsis: under 80 characters, no full stop.
  const synopsis = 'package upgrades in LXD and Incus containers with automatic rollback';
  put(
    join(root, 'DEBIAN/control'),
    [
      'Package: safeupdate',
      `Version: ${debianVersion}`,
      'Architecture: amd64',
      `Maintainer: ${maintainer}`,
      `Installed-Size: ${installedSize}`,
      `Depends: ${depends}`,
      // The client of whichever daemon runs the instances; the snap's lxc is no package, hence no Depends.
      'Recommends: lxd-client | incus-client',
      'Section: admin',
      'Priority: optional',
      `Homepage: ${manifest.homepage.replace(/#.*$/, '')}`,
      `Description: ${synopsis}`,
      ' safeupdate upgrades the packages of an LXD or Incus container safely: it takes',
      ' a snapshot, runs the update command inside, checks the instance\'s health, and',
      ' when the update or a check fails it stops the instance, restores the snapshot,',
      ' starts it and checks it again. Its exit code and report say what happened.',
      ' .',
      ` This package is a single executable with Node.js ${node.version} inside; it needs`,
      ' no Node.js installed.',
      '',
    ].join('\n'),
  );
  rmSync(output, { force: true });
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', `-z${fast ? 1 : 6}`, '--build', root, output], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: String(Math.floor(date.getTime() / 1000)) } });
  return skipped;
}

/** dpkg-shlibdeps runs in a source tree and reads its debian/control: a minimal one. */
function shlibsSource(workDir) {
  const dir = join(workDir, 'shlibs');
  put(join(dir, 'debian/control'), 'Source: safeupdate\n\nPackage: safeupdate\nArchitecture: amd64\n');
  return dir;
}
