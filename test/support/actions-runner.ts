/**
 * How the GitHub Actions runner reads a step's log for workflow commands (actions/runner,
 * ActionCommandManager.TryProcessCommand and ActionCommand.TryParseV2): a line, leading whitespace
 * trimmed, that starts with `::` is a command `::name[ properties]::data`. `::stop-commands::<token>`
 * stops all processing until a line `::<token>::`. Returns the commands the runner would obey, in
 * order, as `name[ properties]::data`; stop-commands and its resume token are processing, not obeyed commands.
 */
export function obeyedCommands(log: string): string[] {
  const obeyed: string[] = [];
  let stopToken: string | null = null;
  for (const raw of log.split(/\r?\n/)) {
    const line = raw.trimStart();
    if (!line.startsWith('::')) continue;
    const end = line.indexOf('::', 2);
    if (end < 0) continue;
    const head = line.slice(2, end);
    const name = head.split(' ')[0]!;
    const data = line.slice(end + 2);
    if (stopToken !== null) {
      if (name.toLowerCase() === stopToken.toLowerCase()) stopToken = null;
      continue;
    }
    if (name === 'stop-commands') stopToken = data;
    else obeyed.push(`${head}::${data}`);
  }
  return obeyed;
}

/** The tokens of the stop-commands blocks in a log, in order. */
export function stopTokens(log: string): string[] {
  return [...log.matchAll(/^::stop-commands::(.*)$/gm)].map((match) => match[1]!);
}
