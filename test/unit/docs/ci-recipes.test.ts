import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The CI recipes run with the keys to an LXD server: what they install, which third-party code
// they run, and where the key stays behind are part of their safety. The e2e test
// (test/e2e/ci.test.ts) runs their setup against a real server; this one reads the rest.
const docs = readFileSync(new URL('../../../docs/ci.md', import.meta.url), 'utf8');
const blocks = [...docs.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang: lang!, body: body! }));
const github = blocks.find((b) => b.lang === 'yaml' && b.body.includes('runs-on:'))!.body;
const gitlab = blocks.find((b) => b.lang === 'yaml' && b.body.includes('before_script:'))!.body;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}

describe('docs/ci.md: the CI recipes', () => {
  const workflow = parseAllDocuments(github)[0]!.toJS() as { jobs: { update: { steps: Step[] } } };
  const steps = workflow.jobs.update.steps;
  const job = (parseAllDocuments(gitlab)[0]!.toJS() as Record<string, Record<string, unknown>>)['update-web1']!;

  it('both are valid YAML', () => {
    expect(steps.length).toBeGreaterThan(3);
    expect(job.script).toBeDefined();
  });

  it('install a release artefact pinned by version and SHA-256, never the unpublished npm name', () => {
    expect(docs).not.toMatch(/npm install (--global|-g) safeupdate(\s|$)/m);
    const install = steps.find((s) => s.run?.includes('sha256sum'))!;
    expect(install.env).toMatchObject({ SAFEUPDATE_VERSION: expect.stringMatching(/^\d+\.\d+\.\d+$/), SAFEUPDATE_SHA256: expect.any(String) });
    for (const script of [install.run!, (job.before_script as string[]).join('\n')]) {
      expect(script).toContain('echo "$SAFEUPDATE_SHA256  $deb" | sha256sum -c -');
      // The checksum is checked before the package is installed.
      expect(script.indexOf('sha256sum -c')).toBeLessThan(script.indexOf('"./$deb"'));
      expect(script).toContain('deb="safeupdate_${SAFEUPDATE_VERSION}_amd64.deb"');
    }
    expect(job.variables).toMatchObject({ SAFEUPDATE_VERSION: expect.any(String), SAFEUPDATE_SHA256: expect.any(String) });
  });

  it('pin every third-party action by a full commit SHA, with its tag in a comment', () => {
    const uses = github.split('\n').filter((line) => /\buses:/.test(line));
    expect(uses.length).toBeGreaterThan(0);
    for (const line of uses) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/);
  });

  it('delete the LXD client configuration (the key) whatever happened: if: always() / after_script', () => {
    const cleanup = steps.find((s) => s.run?.includes('rm -rf "$RUNNER_TEMP/lxd"'))!;
    expect(cleanup.if).toBe('always()');
    expect(steps.find((s) => s.run?.includes('export LXD_CONF='))!.run).toContain('export LXD_CONF="$RUNNER_TEMP/lxd"');
    expect((job.after_script as string[]).join('\n')).toContain('rm -rf "$(cat .lxd-conf)"');
    expect((job.before_script as string[]).join('\n')).toContain('echo "$LXD_CONF" > .lxd-conf');
  });

  it('keep the GitLab secrets in File-type variables, copied, never echoed', () => {
    expect(docs).toMatch(/variables of type \*\*File\*\*/);
    const before = (job.before_script as string[]).join('\n');
    expect(before).toContain('cp "$LXD_CLIENT_KEY" "$LXD_CONF/client.key"');
    expect(before).not.toMatch(/printf .*\$LXD_CLIENT_KEY/);
  });

  it('say to give the CI certificate a project with restricted=true, and show the commands', () => {
    expect(docs).toContain('**with `restricted=true`**');
    expect(docs).toContain('lxc project create web -c features.images=false -c restricted=true -c restricted.snapshots=allow');
    expect(docs).toContain('lxc config trust add client.crt --name ci-safeupdate --restricted --projects web');
    expect(docs).not.toContain('features.profiles=false');
  });
});
