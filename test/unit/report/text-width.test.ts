import { describe, expect, it } from 'vitest';
import { displayWidth, padEndTo, padStartTo } from '../../../src/report/text-width.js';

describe('padding by display width', () => {
  it('a CJK character and an emoji take two columns, a combining accent none, ANSI colour none', () => {
    expect(['web1', '東京', '🚀', 'é', 'e\u0301', '\u001b[31mred\u001b[39m'].map(displayWidth)).toEqual([4, 4, 2, 1, 1, 3]);
    // What .length would have said: 2, 2 and 2 where a terminal shows 4, 2 and 1.
    expect(['東京', '🚀', 'e\u0301'].map((text) => text.length)).toEqual([2, 2, 2]);
  });

  it('pads to the column, never cuts', () => {
    expect(padEndTo('東京', 6)).toBe('東京  ');
    expect(padEndTo('🚀 api', 8)).toBe('🚀 api  ');
    expect(padStartTo('東', 4)).toBe('  東');
    expect(padEndTo('toolong', 3)).toBe('toolong');
  });
});
