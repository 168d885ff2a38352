import { describe, expect, it } from 'vitest';
// @ts-expect-error: a script of the release, plain JavaScript without types
import { manPage } from '../../../scripts/release/man.mjs';

const render = (readme: string): string =>
  (manPage as (options: object) => string)({ readme, name: 'safeupdate', description: 'safe upgrades', version: '1.2.3', date: Date.UTC(2026, 0, 15), sourceUrl: 'https://example.org/repo/blob/main/' });

// safeupdate(1) is made from README.md, whatever its sections: only the H1 is relied on.
describe('the man page made from the README', () => {
  it('names the page from the H1, whatever it says, and shows version and date', () => {
    const page = render('# Anything at all\n\nSome text.\n\n## Usage\n\n    safeupdate web1 -- true\n');
    expect(page).toMatch(/^\.TH "SAFEUPDATE" "1" "January 2026" "safeupdate 1\.2\.3" "safeupdate manual"\n\.SH "NAME"\n\\fBsafeupdate\\fR \\- safe upgrades\n/);
    expect(page).toContain('.SH Usage');
    expect(page).toContain('safeupdate web1 \\-\\- true');
  });

  it('keeps what comes before the H1 out, and refuses a README without one', () => {
    expect(render('<!-- badge -->\n# safeupdate\n\ntext\n')).not.toContain('badge');
    expect(() => render('no heading here\n')).toThrow(/no H1/);
  });

  it('points relative links at the repository, drops in-page anchors, and prints quotes in code as quotes', () => {
    const page = render("# safeupdate\n\nSee [CI](docs/ci.md), [exit codes](#exit-codes) and `sh -c 'a && b'`.\n");
    expect(page).toContain('https://example.org/repo/blob/main/docs/ci.md');
    expect(page).not.toContain('#exit-codes');
    expect(page).toContain("sh \\-c 'a && b'");
    expect(page).not.toContain('&#39;');
  });
});
