import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/config-schema.js';
import { UsageError } from '../../../src/errors.js';

const FILE = '/etc/safeupdate/config.yaml';

function refusal(text: string): string {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(text)}`);
}

describe('the config schema: each key says what it expected', () => {
  it.each([
    ['defaults:\n  timeout: 5\n', 'defaults.timeout: expected a duration like 5s'],
    ['defaults:\n  timeout: 0s\n', 'defaults.timeout: expected a duration like 5s'],
    ['defaults:\n  timeout: never\n', 'defaults.timeout: expected a duration like 5s'],
    ['defaults:\n  expiry: 0d\n', 'defaults.expiry: expected a duration like 14d, or never'],
    ['defaults:\n  expiry: 5\n', 'defaults.expiry: expected a duration like 14d, or never'],
    ['defaults:\n  checks: systemd\n', 'defaults.checks: expected a list of checks'],
    ['defaults:\n  checks:\n    - 5\n', 'defaults.checks[0]: expected a check: a string like "unit:nginx" or a mapping like {unit: nginx}'],
    ['defaults:\n  checks:\n    - https: "https://{ip}/"\n', 'defaults.checks[0]: unknown key https'],
    ['defaults:\n  checks:\n    - unit: a\n      ca: ""\n', 'defaults.checks[0].ca: expected the path of a PEM file'],
    ['defaults:\n  env:\n    LANG: 5\n', 'defaults.env.LANG: expected a string'],
    ['defaults:\n  force: "yes"\n', 'defaults.force: expected true or false'],
    ['defaults:\n  rollback: 1\n', 'defaults.rollback: expected true or false'],
    ['defaults:\n  keep-failed: "no"\n', 'defaults.keep-failed: expected true or false'],
    ['instances:\n  web1:\n    force: 1\n', 'instances.web1.force: expected true or false'],
    ['defaults:\n  keep: 0\n', 'defaults.keep: expected a whole number of at least 1'],
    ['defaults:\n  keep: 1.5\n', 'defaults.keep: expected a whole number of at least 1'],
    ['defaults:\n  keep: x\n', 'defaults.keep: expected a whole number of at least 1'],
    ['defaults:\n  copy-to: backup\n', 'defaults.copy-to: expected a remote as <remote>:, like backup:'],
    ['defaults:\n  copy-to: "-backup:"\n', 'defaults.copy-to: expected a remote as <remote>:, like backup:'],
    ['defaults:\n  copy-to: "backup:x"\n', 'defaults.copy-to: expected a remote as <remote>:, like backup:'],
    ['defaults:\n  copy-to: "x backup:"\n', 'defaults.copy-to: expected a remote as <remote>:, like backup:'],
    ['defaults:\n  copy-to: "ba/ck:"\n', 'defaults.copy-to: expected a remote as <remote>:, like backup:'],
    ['defaults:\n  a: 1\n  b: 2\n', 'defaults: unknown keys a, b'],
    ['instances:\n  web1:\n    checks:\n      - unit: a\n        timeuot: 5s\n', 'instances.web1.checks[0]: unknown key timeuot'],
  ])('%j: %s', (text, message) => {
    expect(refusal(text)).toBe(`${FILE}: ${message}`);
  });

  it('refuses an environment variable name that is not one, anywhere in the name', () => {
    expect(refusal('defaults:\n  env:\n    LANG-X: a\n')).toMatch(/^\/etc\/safeupdate\/config\.yaml: defaults\.env\.LANG-X: /);
    expect(refusal('defaults:\n  env:\n    1L: a\n')).toMatch(/^\/etc\/safeupdate\/config\.yaml: defaults\.env\.1L: /);
  });

  it('refuses an empty check name', () => {
    expect(refusal('defaults:\n  checks:\n    - unit: a\n      name: ""\n')).toMatch(/^\/etc\/safeupdate\/config\.yaml: defaults\.checks\[0\]\.name: /);
  });

  it('accepts what is documented', () => {
    const config = parseConfig(
      [
        'defaults:',
        '  expiry: never',
        '  keep: 1',
        '  copy-to: "my.back_up-2:"',
        '  force: false',
        '  rollback: true',
        '  keep-failed: true',
        '  env:',
        '    _L1: a',
        '  checks:',
        '    - unit: nginx',
        '      name: web',
        '      required: false',
        '    - systemd: true',
        'instances:',
        '  "backup:db1":',
        '    copy-to: "b:"',
        '    expiry: 5200w',
        '',
      ].join('\n'),
      FILE,
    );
    expect(config.defaults).toEqual({
      expiry: 'never', keep: 1, 'copy-to': 'my.back_up-2:', force: false, rollback: true, 'keep-failed': true, env: { _L1: 'a' },
      checks: [{ unit: 'nginx', name: 'web', required: false }, { systemd: true }],
    });
    expect(config.instances).toEqual({ 'backup:db1': { 'copy-to': 'b:', expiry: '5200w' } });
  });

  it('an empty file is an empty config', () => {
    expect(parseConfig('', FILE)).toEqual({});
    expect(parseConfig('# nothing here\n', FILE)).toEqual({});
  });
});

describe('YAML that does not parse', () => {
  it('names the file and the line, with the first line of the parser\'s message', () => {
    expect(refusal('defaults:\n  expiry: 7d\n   bad indent: x\n')).toBe(
      `${FILE}:2: not valid YAML: Nested mappings are not allowed in compact mappings at line 2, column 11:`,
    );
    expect(refusal('{a\n')).toBe(`${FILE}:2: not valid YAML: Flow map must end with a } at line 2, column 1:`);
  });

  it('refuses an alias bomb as bad input, without a line to point at', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']]) {
      lines.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    expect(refusal(`${lines.join('\n')}\n`)).toBe(`${FILE}: not valid YAML: Excessive alias count indicates a resource exhaustion attack`);
  });
});
