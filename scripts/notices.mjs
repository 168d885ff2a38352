// The licences of the libraries a bundle carries: esbuild's metafile names every input file, so the
// packages are exactly those whose code is in the output, each with the licence file it ships.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;

/** The node_modules packages with code in the bundle: name, version, licence (SPDX) and its text. */
export function bundledPackages(metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    // The innermost node_modules/<name> or node_modules/@scope/<name> of the path.
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) dirs.add(match[1]);
  }
  const packages = new Map();
  for (const dir of dirs) {
    const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(ROOT, dir)).find((name) => /^(licen[cs]e|copying)([-.][\w.-]+)?$/i.test(name));
    if (!file) throw new Error(`${manifest.name}@${manifest.version} is bundled but ships no licence file: its notice cannot be reproduced`);
    // The same version installed in several places is one notice.
    packages.set(`${manifest.name}@${manifest.version}`, { name: manifest.name, version: manifest.version, license: manifest.license, text: readFileSync(join(ROOT, dir, file), 'utf8').trim() });
  }
  return [...packages.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

/** One text with every bundled package's licence, as the MIT and ISC licences ask of a copy. */
export function noticesText(packages) {
  const head = 'safeupdate bundles the following libraries. Their licences follow.\n';
  return `${head}${packages.map((p) => `\n${'='.repeat(72)}\n${p.name} ${p.version} (${p.license})\n${'='.repeat(72)}\n\n${p.text}\n`).join('')}`;
}
