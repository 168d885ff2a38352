import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

/** One scripted answer of the stand-in `lxc` (test/fixtures/lxc-stand-in.cjs). */
export interface StandInAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  delayMs?: number;
  ignoreSigterm?: boolean;
  dieBy?: string;
}

export interface StandInCall {
  call: number;
  /** The name it was run by: lxc or incus. */
  client: string;
  argv: string[];
  pid: number;
  ppid: number;
  pgid: number;
  parentPgid: number;
  shell: string | null;
}

/**
 * A stand-in `lxc` (or, named `incus`, a stand-in Incus client: the two take the same arguments
 * where safeupdate uses them) for a test file: installed once in a folder whose name has a space
 * (the path must survive script(1)'s -c string), with a fresh call log and script for every test.
 */
export function useLxcStandIn(prefix: string, client: 'lxc' | 'incus' = 'lxc') {
  const fixture = fileURLToPath(new URL('../fixtures/lxc-stand-in.cjs', import.meta.url));
  const paths = { dir: '', binDir: '', binary: '', logFile: '' };
  let testNumber = 0;

  beforeAll(async () => {
    paths.dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
    paths.binDir = join(paths.dir, 'bin dir');
    await mkdir(paths.binDir);
    paths.binary = join(paths.binDir, client);
    // The node running the tests, not whichever `node` PATH finds; and a mode set here, not in git.
    const source = await readFile(fixture, 'utf8');
    await writeFile(paths.binary, source.replace(/^#!.*/, `#!${process.execPath}`));
    await chmod(paths.binary, 0o755);
  });
  afterAll(() => rm(paths.dir, { recursive: true, force: true }));
  beforeEach(() => {
    testNumber += 1;
    paths.logFile = join(paths.dir, `calls-${testNumber}.jsonl`);
    process.env.LXC_STAND_IN_LOG = paths.logFile;
    process.env.LXC_STAND_IN_SCRIPT = join(paths.dir, `answers-${testNumber}.json`);
    answer();
  });
  afterEach(() => {
    delete process.env.LXC_STAND_IN_LOG;
    delete process.env.LXC_STAND_IN_SCRIPT;
  });

  /** The answers to the next calls, in order; a call beyond them fails (exit 99). */
  function answer(...answers: StandInAnswer[]): void {
    writeFileSync(process.env.LXC_STAND_IN_SCRIPT!, JSON.stringify(answers));
  }
  function calls(): StandInCall[] {
    if (!existsSync(paths.logFile)) return [];
    return readFileSync(paths.logFile, 'utf8').split('\n').filter((line) => line.includes('"event":"call"')).map((line) => JSON.parse(line) as StandInCall);
  }
  return {
    paths,
    answer,
    calls,
    argvs: () => calls().map((call) => call.argv),
    /** The test's own number: a name for per-test files. */
    get testNumber() {
      return testNumber;
    },
  };
}

/**
 * The stand-in installed as both `incus` and `lxc`, first on PATH for every test: for tests of
 * which client is run by name. Each call's `client` says which name it was run by.
 */
export function useClientStandIns(prefix: string) {
  const standIn = useLxcStandIn(prefix, 'incus');
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    await copyFile(standIn.paths.binary, join(standIn.paths.binDir, 'lxc'));
    await chmod(join(standIn.paths.binDir, 'lxc'), 0o755);
  });
  beforeEach(() => {
    process.env.PATH = `${standIn.paths.binDir}${delimiter}${savedPath}`;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });
  return standIn;
}
