// Only coerce, not all of semver: it is imported at every start (the bundle carries it).
import coerce from 'semver/functions/coerce.js';

/** The package managers whose versions safeupdate reads: Debian's, RPM's and Alpine's. */
export type PackageManager = 'dpkg' | 'rpm' | 'apk';

/** How far a version moved, judged on its upstream part; `other` where that cannot be said honestly. */
export type Bump = 'major' | 'minor' | 'patch' | 'other';

export const BUMPS: readonly Bump[] = ['major', 'minor', 'patch', 'other'];

/** A version split the way its package manager reads it. */
export interface ParsedVersion {
  epoch: number;
  /** The upstream version: what the software's authors released. */
  upstream: string;
  /** The distribution's own part: Debian revision, RPM release, Alpine `rN`; '' where absent. */
  revision: string;
}

export function parseVersion(manager: PackageManager, text: string): ParsedVersion {
  switch (manager) {
    case 'dpkg':
      return parseDebian(text);
    case 'rpm':
      return parseRpm(text);
    case 'apk':
      return parseApk(text);
  }
}

/** `[epoch:]upstream[-revision]`; the revision is after the last hyphen (Debian policy 5.6.12). */
function parseDebian(text: string): ParsedVersion {
  const { epoch, rest } = splitEpoch(text);
  const dash = rest.lastIndexOf('-');
  return dash < 0 ? { epoch, upstream: rest, revision: '' } : { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
}

/** `[epoch:]version-release`, as `rpm -q --qf '%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}'` prints it. */
function parseRpm(text: string): ParsedVersion {
  return parseDebian(text);
}

/** `version-rN`: Alpine's package release is the `-r` suffix. */
function parseApk(text: string): ParsedVersion {
  const match = /^(.*)-r(\d+)$/.exec(text);
  return match ? { epoch: 0, upstream: match[1]!, revision: match[2]! } : { epoch: 0, upstream: text, revision: '' };
}

function splitEpoch(text: string): { epoch: number; rest: string } {
  const match = /^(\d+):(.*)$/.exec(text);
  return match ? { epoch: Number(match[1]), rest: match[2]! } : { epoch: 0, rest: text };
}

/** Orders two versions by their package manager's own rules: negative, zero or positive. */
export function compareVersions(manager: PackageManager, a: string, b: string): number {
  const left = parseVersion(manager, a);
  const right = parseVersion(manager, b);
  if (left.epoch !== right.epoch) return Math.sign(left.epoch - right.epoch);
  const part = manager === 'dpkg' ? debianCompare : manager === 'rpm' ? rpmCompare : apkCompare;
  return part(left.upstream, right.upstream) || (manager === 'apk' ? Math.sign(Number(left.revision || 0) - Number(right.revision || 0)) : part(left.revision, right.revision));
}

/**
 * dpkg's verrevcmp: alternating runs of non-digits (compared character by character, letters
 * before everything else, `~` before even the end) and digits (compared as numbers).
 */
function debianCompare(a: string, b: string): number {
  const order = (c: string | undefined): number => {
    if (c === undefined || isDigit(c)) return 0;
    if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
    if (c === '~') return -1;
    return c.charCodeAt(0) + 256;
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const diff = order(a[i]) - order(b[j]);
      if (diff) return Math.sign(diff);
      i += 1;
      j += 1;
    }
    while (a[i] === '0') i += 1;
    while (b[j] === '0') j += 1;
    while (i < a.length && isDigit(a[i]!) && j < b.length && isDigit(b[j]!)) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i += 1;
      j += 1;
    }
    if (i < a.length && isDigit(a[i]!)) return 1;
    if (j < b.length && isDigit(b[j]!)) return -1;
    if (firstDiff) return Math.sign(firstDiff);
  }
  return 0;
}

/**
 * rpmvercmp: segments of digits or letters, separators ignored; `~` sorts before everything, `^`
 * after the end but before anything else; a numeric segment is newer than an alphabetic one.
 */
function rpmCompare(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !/[A-Za-z0-9~^]/.test(a[i]!)) i += 1;
    while (j < b.length && !/[A-Za-z0-9~^]/.test(b[j]!)) j += 1;
    for (const mark of ['~', '^']) {
      if (a[i] === mark || b[j] === mark) {
        if (a[i] !== mark) return mark === '~' ? 1 : i >= a.length ? -1 : 1;
        if (b[j] !== mark) return mark === '~' ? -1 : j >= b.length ? 1 : -1;
        i += 1;
        j += 1;
      }
    }
    if (a[i] === '~' || b[j] === '~' || a[i] === '^' || b[j] === '^') continue;
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]!);
    const segment = numeric ? /^\d+/ : /^[A-Za-z]+/;
    const left = segment.exec(a.slice(i))?.[0] ?? '';
    const right = segment.exec(b.slice(j))?.[0] ?? '';
    if (right === '') return numeric ? 1 : -1;
    i += left.length;
    j += right.length;
    if (numeric) {
      const diff = compareDigits(left, right);
      if (diff) return diff;
    } else if (left !== right) {
      return left < right ? -1 : 1;
    }
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

const APK_SUFFIXES = ['alpha', 'beta', 'pre', 'rc', '', 'cvs', 'svn', 'git', 'hg', 'p'];

/**
 * apk's order for the part before `-rN`: dotted numbers, an optional letter, then suffixes such as
 * `_rc1` (before the release) or `_p1` (after it).
 */
function apkCompare(a: string, b: string): number {
  const left = splitApk(a);
  const right = splitApk(b);
  for (let k = 0; k < Math.max(left.numbers.length, right.numbers.length); k += 1) {
    const x = left.numbers[k];
    const y = right.numbers[k];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const diff = compareDigits(x, y);
    if (diff) return diff;
  }
  if (left.letter !== right.letter) return left.letter < right.letter ? -1 : 1;
  for (let k = 0; k < Math.max(left.suffixes.length, right.suffixes.length); k += 1) {
    const x = left.suffixes[k] ?? { rank: APK_SUFFIXES.indexOf(''), number: '0' };
    const y = right.suffixes[k] ?? { rank: APK_SUFFIXES.indexOf(''), number: '0' };
    if (x.rank !== y.rank) return Math.sign(x.rank - y.rank);
    const diff = compareDigits(x.number, y.number);
    if (diff) return diff;
  }
  return 0;
}

function splitApk(text: string): { numbers: string[]; letter: string; suffixes: Array<{ rank: number; number: string }> } {
  const [head = '', ...suffixTexts] = text.split('_');
  const match = /^([\d.]*\d)?([a-z]?)$/.exec(head);
  const numbers = match?.[1]?.split('.') ?? [head];
  const suffixes = suffixTexts.map((suffix) => {
    const parts = /^([a-z]*)(\d*)$/.exec(suffix);
    const rank = APK_SUFFIXES.indexOf(parts?.[1] ?? '');
    return { rank: rank < 0 ? APK_SUFFIXES.length : rank, number: parts?.[2] || '0' };
  });
  return { numbers, letter: match?.[2] ?? '', suffixes };
}

function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return Math.sign(x.length - y.length);
  return x === y ? 0 : x < y ? -1 : 1;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

/**
 * How far an upgrade moved. An epoch raised is at least major (the maintainers reset the
 * ordering); a downgrade, a `+really` rewind, an upstream that semver cannot read, or an upstream
 * that changed but reads the same to semver (`1.0~rc1` to `1.0`, `2024a` to `2024b`) is `other`;
 * the same upstream with a new revision (`+deb12u1` to `+deb12u2`) is a patch.
 */
export function classifyBump(manager: PackageManager, from: string, to: string): Bump {
  if (compareVersions(manager, to, from) <= 0) return 'other';
  const before = parseVersion(manager, from);
  const after = parseVersion(manager, to);
  if (after.epoch > before.epoch) return 'major';
  if (/\+really/i.test(before.upstream) || /\+really/i.test(after.upstream)) return 'other';
  if (before.upstream === after.upstream) return 'patch';
  const old = coerce(before.upstream);
  const fresh = coerce(after.upstream);
  if (old === null || fresh === null) return 'other';
  if (fresh.major !== old.major) return fresh.major > old.major ? 'major' : 'other';
  if (fresh.minor !== old.minor) return fresh.minor > old.minor ? 'minor' : 'other';
  if (fresh.patch !== old.patch) return fresh.patch > old.patch ? 'patch' : 'other';
  return 'other';
}
