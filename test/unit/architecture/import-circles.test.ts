import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

// A circle is where a layer started to know about the one above it; docs/architecture.md says
// who may import whom. Type-only imports count too: they are the same knowledge.
it('src has no import circles', async () => {
  const { stdout } = await execa('node_modules/.bin/madge', ['--circular', '--json', '--extensions', 'ts', '--ts-config', 'tsconfig.json', 'src'], { cwd: ROOT, reject: false });
  const circles = JSON.parse(stdout) as string[][];
  expect(circles.map((circle) => circle.join(' > '))).toEqual([]);
}, 120_000);
