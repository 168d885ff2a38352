import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { describe, expect, it } from 'vitest';

// README.md is the front page and docs/ the manual: a link that points at a moved or renamed page,
// or at a heading that was reworded, is found here rather than by a reader. Anchors are GitHub's
// heading slugs (github-slugger is the library GitHub's own renderer follows).
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The page's prose: fenced code blocks out, inline code spans out (`[x](y)` there is not a link). */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').flatMap((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [line.replace(/`+[^`]*`+/g, '')];
  });
}

/** The anchors GitHub makes for a page's headings, duplicates numbered as it numbers them. */
function anchors(text: string): Set<string> {
  const slugger = new GithubSlugger();
  let fenced = false;
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*?)#*\s*$/.exec(line);
    // The rendered text: a link's words, code without its backticks.
    if (heading) out.add(slugger.slug(heading[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '')));
  }
  return out;
}

/** Every relative link of a page: [text](target), [text](target "title"), and reference definitions. */
function links(text: string): string[] {
  const lines = prose(text);
  const inline = lines.flatMap((line) => [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!));
  const defined = lines.flatMap((line) => [.../^\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/.exec(line) ?? []].slice(1, 2));
  return [...inline, ...defined].filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('links in README.md and docs/', () => {
  it('finds the pages and their links (the test itself reads what it should)', () => {
    expect(pages).toEqual(expect.arrayContaining(['README.md', 'docs/ci.md', 'docs/failure-modes.md']));
    expect(links('see [a](b.md#c), `[no](code.md)`, [web](https://example.org) and\n[ref]: d.md\n')).toEqual(['b.md#c', 'd.md']);
    expect([...anchors('# What happens if…\n## Rehearsal (`--rehearse`)\n## A\n## A\n```\n# not a heading\n```\n')]).toEqual([
      'what-happens-if',
      'rehearsal---rehearse',
      'a',
      'a-1',
    ]);
  });

  for (const page of pages) {
    it(`every relative link and #anchor in ${page} resolves`, () => {
      const text = readFileSync(join(ROOT, page), 'utf8');
      const broken: string[] = [];
      for (const target of links(text)) {
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURIComponent(path));
        if (!existsSync(file)) {
          broken.push(`${target}: no such file ${relative(ROOT, file)}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!statSync(file).isFile() || !file.endsWith('.md')) {
          broken.push(`${target}: an anchor into something that is not a markdown page`);
        } else if (!anchors(readFileSync(file, 'utf8')).has(decodeURIComponent(anchor))) {
          broken.push(`${target}: no heading with the anchor #${anchor} in ${relative(ROOT, file)}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});
