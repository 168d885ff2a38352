import { UsageError } from '../errors.js';

export type Confirmation = 'yes' | 'no' | 'cancelled';

/**
 * A confirmation: `--yes` answers it; a terminal asks; without either it is bad usage (exit 2),
 * never a prompt that would hang a CI job or a hook.
 */
export async function confirm(question: string, options: { yes: boolean; terminal: boolean }): Promise<Confirmation> {
  if (options.yes) return 'yes';
  if (!options.terminal) throw new UsageError(`${question} needs a confirmation: pass --yes (no terminal to ask on)`);
  try {
    // Loaded on first use: `--help` or a run with --yes never pays for the prompts.
    const { default: enquirer } = await import('enquirer');
    const answer = await enquirer.prompt<{ ok: boolean }>({ type: 'confirm', name: 'ok', message: question, initial: false, stdout: process.stderr });
    return answer.ok ? 'yes' : 'no';
  } catch {
    // enquirer rejects on Ctrl+C.
    return 'cancelled';
  }
}
