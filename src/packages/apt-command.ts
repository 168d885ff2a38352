/**
 * Which update commands safeupdate treats as apt runs: those get the dpkg lock wait and, when
 * unattended, the conffile options (run/steps/dpkg.ts). Recognised: a direct call of apt, apt-get,
 * aptitude or unattended-upgrade(s) (with or without a path), and a shell line (`sh -c`, `bash -c`,
 * `dash -c`) in which one of those names stands as a word of its own. A shell line is not parsed:
 * `sh -c 'echo apt'` counts too, which is harmless, since only apt reads what safeupdate sets
 * (APT_CONFIG). Anything else (`dpkg -i`, a script file, `env … apt-get`) is left as it is.
 */
const APT_BINARY = /^(?:\/usr(?:\/local)?\/s?bin\/|\/s?bin\/)?(apt|apt-get|aptitude|unattended-upgrades?)$/;
const SHELL = /^(?:\/usr)?(?:\/bin\/)?(sh|bash|dash)$/;

export interface AptCommand {
  /** direct: argv[0] is apt's; shell: a `sh -c` line that names it. */
  form: 'direct' | 'shell';
  /** The apt programs it names, in order of appearance, each once. */
  programs: string[];
}

export function recogniseApt(command: readonly string[]): AptCommand | null {
  const [binary = '', ...args] = command;
  const direct = APT_BINARY.exec(binary);
  if (direct) return { form: 'direct', programs: [direct[1]!] };
  if (!SHELL.test(binary)) return null;
  // `sh -c SCRIPT`, `sh -ec SCRIPT`, `bash -euc SCRIPT`: the script is the word after the option with c.
  const option = args.findIndex((arg) => /^-[a-z]*c[a-z]*$/.test(arg));
  const script = option === -1 ? undefined : args[option + 1];
  if (script === undefined) return null;
  const programs: string[] = [];
  for (const word of script.split(/[\s;&|()`'"{}]+/)) {
    const match = APT_BINARY.exec(word);
    if (match && !programs.includes(match[1]!)) programs.push(match[1]!);
  }
  return programs.length ? { form: 'shell', programs } : null;
}
