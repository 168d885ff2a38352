/**
 * Text that reaches a terminal from inside an instance, in safeupdate's own lines (a check's
 * output, unit and process names, file paths, a dpkg lock holder's command line): control
 * characters are shown in caret notation, as `cat -v` shows them, instead of being obeyed. An
 * escape sequence there could rewrite what the operator sees (clear the screen, forge a "healthy"
 * line, retitle the window, write the clipboard through OSC 52) and a carriage return could
 * overwrite a line. Newlines and tabs stay. The update command's own output is not passed through
 * this: like `lxc exec`, it streams as the command wrote it (in GitHub Actions fenced off by
 * `::stop-commands::`, cli/outputs.ts).
 */
export function terminalText(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, caret);
}

function caret(character: string): string {
  const code = character.charCodeAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  // C1 controls (U+0080–U+009F): some terminals take U+009B as the start of a sequence, like ESC [.
  return `M-^${String.fromCharCode(code - 0x40)}`;
}
