// debian/copyright in DEP-5 form for the .deb: safeupdate itself, every library its executable
// bundles (from the same list as THIRD-PARTY-NOTICES.txt) and the Node.js runtime it carries.
import { readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);
/** npm's SPDX names as DEP-5 spells them: MIT is "Expat" there. */
const DEP5 = { MIT: 'Expat', ISC: 'ISC', 'Apache-2.0': 'Apache-2.0', 'BSD-2-Clause': 'BSD-2-clause', 'BSD-3-Clause': 'BSD-3-clause' };

/** A text as a DEP-5 field's continuation lines: indented, blank lines as " .". */
function continuation(text) {
  return text
    .replace(/\r\n/g, '\n')
    .trim()
    .split('\n')
    .map((line) => (line.trim() ? ` ${line.trimEnd()}` : ' .'))
    .join('\n');
}

/** The copyright lines of a licence text, or its authors by name where it has none. */
function holders(pkg) {
  const lines = pkg.text.split('\n').filter((line) => /^\s*(copyright\b|\(c\))/i.test(line) && !/notice|holders? and contributors "as is"/i.test(line));
  const stated = lines.map((line) => line.trim().replace(/^copyright\s*(\(c\)|©)?\s*/i, '').trim()).filter(Boolean);
  return stated.length > 0 ? [...new Set(stated)] : [`the ${pkg.name} authors`];
}

/** The licence's text without its copyright lines: the body DEP-5 wants in a License paragraph. */
function body(text) {
  return text
    .split('\n')
    .filter((line) => !/^\s*(copyright\b|\(c\))/i.test(line) && !/^\s*(MIT|ISC) License\s*$/i.test(line) && !/^\s*The MIT License( \(MIT\))?\s*$/i.test(line))
    .join('\n');
}

/**
 * Node's licence quotes the Apache License 2.0 whole, for several of its libraries: Debian's
 * policy wants a pointer to the copy every system has instead (lintian: an error otherwise).
 */
function withoutApacheText(text) {
  return text.replace(/^([ \t]*)Apache License\s*\n\s*Version 2\.0, January 2004[\s\S]*?END OF TERMS AND CONDITIONS/gm, (_, indent) =>
    `${indent}The Apache License, Version 2.0; on Debian systems its complete text is in\n${indent}/usr/share/common-licenses/Apache-2.0.`,
  );
}

export function debianCopyright({ manifest, packages, node }) {
  const own = readFileSync(new URL('LICENSE', ROOT), 'utf8');
  const repository = manifest.homepage.replace(/#.*$/, '');
  const paragraphs = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      `Upstream-Name: ${manifest.name}`,
      `Upstream-Contact: ${manifest.bugs.url}`,
      `Source: ${repository}`,
    ],
    ['Files: *', 'Copyright: the safeupdate authors', 'License: Expat'],
  ];
  const licences = new Map([['Expat', body(own)]]);
  for (const pkg of packages) {
    const licence = DEP5[pkg.license];
    if (!licence) throw new Error(`${pkg.name}@${pkg.version}: licence ${pkg.license} has no DEP-5 name here; add it`);
    paragraphs.push([
      `Files: node_modules/${pkg.name}/*`,
      `Copyright: ${holders(pkg).join('\n ')}`,
      `License: ${licence}`,
      `Comment: ${pkg.name} ${pkg.version}, bundled into /usr/bin/safeupdate.`,
    ]);
    if (!licences.has(licence)) licences.set(licence, licence === 'Apache-2.0' ? null : body(pkg.text));
  }
  paragraphs.push([
    'Files: node/*',
    'Copyright: Node.js contributors and the authors of the software Node.js includes',
    'License: Node.js',
    `Comment: /usr/bin/safeupdate is Node.js ${node.version} (Node's official Linux build) with safeupdate's`,
    ' code inside. Its licence, with those of the libraries it includes, follows.',
  ]);
  licences.set('Node.js', withoutApacheText(readFileSync(node.license, 'utf8')));
  for (const [name, text] of licences) {
    paragraphs.push(
      text === null
        ? [`License: ${name}`, ` On Debian systems, the complete text of the ${name} licence is in`, ` /usr/share/common-licenses/${name}.`]
        : [`License: ${name}`, continuation(text)],
    );
  }
  return `${paragraphs.map((lines) => lines.join('\n')).join('\n\n')}\n`;
}
