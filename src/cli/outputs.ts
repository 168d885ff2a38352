import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, appendFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { renderMarkdown } from '../report/markdown.js';
import type { Report } from '../report/report.js';
import { escapeData, renderWorkflowCommands } from '../report/workflow-commands.js';
import type { Io } from './io.js';

/** The CI system the run is in, as its own environment variables say. */
export type Ci = 'github' | 'gitlab' | null;

export function detectCi(env: NodeJS.ProcessEnv): Ci {
  if (env.GITHUB_ACTIONS === 'true') return 'github';
  if (env.GITLAB_CI) return 'gitlab';
  return null;
}

/** Markers that make a CI log fold the update's output under one line. */
export interface OutputFold {
  open: (title: string) => string;
  close: () => string;
}

const SECTION = 'safeupdate_update';

export function outputFold(ci: Ci, now: () => number = Date.now): OutputFold | null {
  switch (ci) {
    case 'github':
      return { open: (title) => `::group::${escapeData(title)}\n`, close: () => '::endgroup::\n' };
    case 'gitlab': {
      // GitLab's collapsible sections: the header is one line, so control characters become spaces.
      const seconds = () => Math.floor(now() / 1000);
      return {
        open: (title) => `\x1b[0Ksection_start:${seconds()}:${SECTION}[collapsed=true]\r\x1b[0K${title.replace(/[\x00-\x1f\x7f]+/g, ' ')}\n`,
        close: () => `\x1b[0Ksection_end:${seconds()}:${SECTION}\r\x1b[0K\n`,
      };
    }
    case null:
      return null;
  }
}

/**
 * The log of a run in GitHub Actions. The runner obeys a workflow command on any line of a step's
 * output, and much of what a run prints comes from inside the container (the update's output, a
 * check's answer, a failed command's last line): a maintainer script that prints `::add-mask::`,
 * `::error::` or `::endgroup::` would be obeyed. So all of it goes between `::stop-commands::<token>`
 * and `::<token>::`, where the runner obeys nothing; only safeupdate's own commands (`command`) are
 * written outside. The token is random and fresh for every block, so no text inside can guess it
 * from an earlier one and end the block early.
 */
export interface CommandGuard {
  /** Text that may carry what the container printed: inside a block (opened if none is). */
  text: (text: string) => void;
  /** One of safeupdate's own workflow commands (whole lines): the open block is closed first. */
  command: (lines: string) => void;
  /** Closes the open block, if any: before the annotations, and at the end of the output. */
  end: () => void;
}

export const stopToken = (): string => randomBytes(16).toString('hex');

export function commandGuard(write: (text: string) => void, token: () => string = stopToken): CommandGuard {
  let open: string | null = null;
  let atLineStart = true;
  const raw = (text: string) => {
    if (!text) return;
    write(text);
    atLineStart = text.endsWith('\n');
  };
  const end = () => {
    if (open === null) return;
    // The resume token counts only at the start of a line.
    raw(`${atLineStart ? '' : '\n'}::${open}::\n`);
    open = null;
  };
  return {
    text(text) {
      if (!text) return;
      if (open === null) {
        open = token();
        raw(`${atLineStart ? '' : '\n'}::stop-commands::${open}\n`);
      }
      raw(text);
    },
    command(lines) {
      end();
      raw(lines);
    },
    end,
  };
}

/** A whole text in a block of its own (the human summary on stdout, in GitHub Actions). */
export function guarded(text: string, token: () => string = stopToken): string {
  let out = '';
  const guard = commandGuard((chunk) => (out += chunk), token);
  guard.text(text);
  guard.end();
  return out;
}

export interface OutputFiles {
  junit?: string;
  report?: string;
}

/**
 * The files --junit and --report will be written to, checked before anything changes: a run that
 * would find out only at its end that it cannot leave its report there is refused (exit 2) instead.
 */
export async function refuseUnwritableOutputs(files: OutputFiles): Promise<void> {
  for (const [flag, path] of [['--junit', files.junit], ['--report', files.report]] as const) {
    if (!path) continue;
    const found = await stat(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : error));
    if (found instanceof Error) throw new UsageError(`${flag} ${path}: cannot write there (${found.code ?? found.message})`);
    if (found?.isDirectory()) throw new UsageError(`${flag} ${path}: is a folder; give a file name`);
    // An existing file must be writable; a new one needs a folder it can be made in.
    await access(found ? path : dirname(path), constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`${flag} ${path}: cannot write there (${error.code ?? error.message}${found ? '' : `: the folder ${dirname(path)}`})`);
    });
  }
}

/**
 * What CI systems read, written after the report is saved: `--report` (the JSON report),
 * `--junit`, GitHub's step summary (`GITHUB_STEP_SUMMARY`) and, in GitHub Actions, annotations on
 * stderr (Actions reads workflow commands there too, and stdout stays the report alone). A write
 * that fails is a one-line warning: it never changes what the run did, nor its exit code.
 */
export async function writeOutputs(io: Io, files: OutputFiles, report: Report, guard: CommandGuard | null = null): Promise<void> {
  const attempt = async (what: string, write: () => Promise<void>) => {
    try {
      await write();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      io.stderr(`safeupdate: could not write ${what}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    }
  };
  if (files.report) await attempt(`the report to ${files.report}`, () => writeFile(files.report!, `${JSON.stringify(report, null, 2)}\n`));
  // The JUnit renderer (and its XML library) loads only for a run that asks for it.
  if (files.junit) await attempt(`the JUnit report to ${files.junit}`, async () => writeFile(files.junit!, (await import('../report/junit.js')).renderJunit(report)));
  const summary = io.env.GITHUB_STEP_SUMMARY;
  if (summary) await attempt(`the step summary to ${summary}`, () => appendFile(summary, renderMarkdown(report)));
  if (detectCi(io.env) === 'github') (guard?.command ?? io.stderr)(renderWorkflowCommands(report));
}
