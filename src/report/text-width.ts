import stringWidth from 'string-width';

/**
 * Columns of a table line up by what a terminal shows, not by UTF-16 code units: a CJK character
 * or an emoji takes two columns and `.length` says 1 or 2 at random to that; a combining accent
 * takes none. Instance, check and snapshot names come from users and can hold any of these.
 */
export const displayWidth = (text: string): number => stringWidth(text);

/** The text, then spaces up to `width` columns (as padEnd, by display width). */
export const padEndTo = (text: string, width: number): string => text + ' '.repeat(Math.max(0, width - stringWidth(text)));

/** Spaces up to `width` columns, then the text (as padStart, by display width). */
export const padStartTo = (text: string, width: number): string => ' '.repeat(Math.max(0, width - stringWidth(text))) + text;
