// safeupdate(1), made from README.md: the front page and the manual page are one text, so they
// cannot drift apart. marked-man (marked with a roff renderer) does the conversion; the only part of
// the README's shape relied on is its first line, the H1, which becomes the page's NAME line.
import { readFileSync } from 'node:fs';
import { Marked } from 'marked';
import markedMan from 'marked-man';

/**
 * The page as roff. `date`: the page's date (the commit's, for a build that does not change with
 * the clock); `version`: shown in the footer.
 */
export function manPage({ readme, name, description, version, date, sourceUrl }) {
  const lines = readme.replace(/\r\n/g, '\n').split('\n');
  const h1 = lines.findIndex((line) => /^#\s/.test(line));
  if (h1 < 0) throw new Error('README.md has no H1 (# title): nothing to name the page with');
  // ronn's header form, "# name(section) -- description", which marked-man reads into NAME.
  lines[h1] = `# ${name}(1) -- ${description}`;
  const marked = new Marked();
  marked.use({ ...markedMan, name, section: '1', manual: 'safeupdate manual', date, gfm: true, breaks: false });
  // The README's links to other files of the repository (docs/ci.md) are not beside an installed
  // page: they point at the repository instead.
  marked.use({
    walkTokens(token) {
      if ((token.type === 'link' || token.type === 'image') && !/^([a-z][a-z+.-]*:|#)/i.test(token.href)) token.href = new URL(token.href, sourceUrl).href;
    },
  });
  // A getter in marked-man's options (the copy above keeps its value, not the accessor).
  marked.defaults.manVersion = `${name} ${version}`;
  const roff = marked.parse(lines.slice(h1).join('\n'));
  return (
    roff
      // The README's own links between sections (#exit-codes) say nothing on paper: their text only.
      .replace(/\\fR\[#[^\]]*\]/g, '\\fR')
      // marked escapes quotes in code spans as HTML, which roff would print as they are.
      .replaceAll('&#39;', "'")
      .replaceAll('&quot;', '"')
  );
}

/**
 * The page for this repository's README.md and package.json; relative links lead to the files in the
 * repository named by package.json (`repository`), at the branch main.
 */
export function repositoryManPage({ date }) {
  const root = new URL('../../', import.meta.url);
  const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  const repository = manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  return manPage({ readme, name: manifest.name, description: manifest.description, version: manifest.version, date, sourceUrl: `${repository}/blob/main/` });
}
