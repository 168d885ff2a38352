import { describe, expect, it } from 'vitest';
import { answerLine, parseRequest, printable, PROTOCOL_VERSION } from '../../../../src/hooks/broker/protocol.js';

// Everything in a request comes from root inside the container: the parse refuses, never repairs.

const TOKEN = '0123456789abcdef0123456789abcdef';
const snapshot = (overrides: Record<string, unknown> = {}) => ({
  v: 1, request: 'snapshot', run: '3f2a9c1b7d4e:1234:567890', token: TOKEN, command: 'apt-get upgrade -y', user: 'root', failedUnits: ['old.service'], ...overrides,
});
const result = (overrides: Record<string, unknown> = {}) => ({
  v: 1, request: 'result', run: '3f2a9c1b7d4e:1234:567890', token: TOKEN, checks: [{ name: 'systemd', status: 'ok', message: 'running' }], ...overrides,
});
const line = (value: unknown) => JSON.stringify(value);

describe('parseRequest', () => {
  it('takes the two requests as the hook sends them', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(parseRequest(line(snapshot()))).toEqual(snapshot());
    expect(parseRequest(line(result()))).toEqual(result());
    expect(parseRequest(line(snapshot({ failedUnits: [], command: '' })))).toMatchObject({ failedUnits: [] });
    expect(parseRequest(line(result({ checks: [] })))).toMatchObject({ checks: [] });
  });

  it.each([
    ['invalid JSON', '{"v":1,', 'not JSON'],
    ['not JSON at all', 'snapshot please', 'not JSON'],
    ['JSON that is no object', '[1,2]', 'not a request'],
    ['null', 'null', 'not a request'],
    ['an unknown field', line(snapshot({ stateful: true })), 'not a request'],
    ['an unknown field in a check', line(result({ checks: [{ name: 'a', status: 'ok', message: '', extra: 1 }] })), 'not a request'],
    ['another protocol version', line(snapshot({ v: 2 })), 'not a request: v'],
    ['the version as a string', line(snapshot({ v: '1' })), 'not a request: v'],
    ['no version', line({ ...snapshot(), v: undefined }), 'not a request: v'],
    ['an unknown request', line(snapshot({ request: 'restore' })), 'not a request'],
    ['a missing field', line({ ...snapshot(), token: undefined }), 'not a request: token'],
    ['a token that is not 32 lower-case hex digits', line(snapshot({ token: TOKEN.toUpperCase() })), 'not a request: token: not a token'],
    ['a short token', line(snapshot({ token: 'abc' })), 'not a token'],
    ['a run id with a space', line(snapshot({ run: 'a b' })), 'not a request: run: not a run id'],
    ['a run id with a slash', line(snapshot({ run: '../x' })), 'not a run id'],
    ['an overlong run id', line(snapshot({ run: 'a'.repeat(129) })), 'not a run id'],
    ['an escape in the command (a terminal escape)', line(snapshot({ command: 'apt-get \u001b[2J upgrade' })), 'not a request: command: control characters'],
    ['a line break in the user', line(snapshot({ user: 'root\nforged log line' })), 'not a request: user: control characters'],
    ['a C1 control (CSI) in a check message', line(result({ checks: [{ name: 'a', status: 'ok', message: 'x\u009by' }] })), 'control characters'],
    ['a NUL in a check name', line(result({ checks: [{ name: 'a\u0000', status: 'ok', message: '' }] })), 'control characters'],
    ['DEL in the command', line(snapshot({ command: 'a\u007f' })), 'control characters'],
    ['an overlong command', line(snapshot({ command: 'x'.repeat(1025) })), 'not a request: command'],
    ['an overlong user', line(snapshot({ user: 'x'.repeat(129) })), 'not a request: user'],
    ['an overlong check message', line(result({ checks: [{ name: 'a', status: 'ok', message: 'x'.repeat(1025) }] })), 'not a request: checks.0.message'],
    ['too many failed units', line(snapshot({ failedUnits: Array.from({ length: 257 }, (_, i) => `u${i}.service`) })), 'not a request: failedUnits'],
    ['a failed unit that is no unit name', line(snapshot({ failedUnits: ['a b.service'] })), 'not a unit name'],
    ['too many checks', line(result({ checks: Array.from({ length: 65 }, () => ({ name: 'a', status: 'ok', message: '' })) })), 'not a request: checks'],
    ['a check status that is none of ok, warning, failed', line(result({ checks: [{ name: 'a', status: 'passed', message: '' }] })), 'not a request: checks.0.status'],
    ['a snapshot request with checks', line({ ...snapshot(), checks: [] }), 'not a request'],
  ])('refuses %s', (_, text, reason) => {
    expect(() => parseRequest(text)).toThrow(reason);
  });

  it('the longest fields the hook may send are accepted', () => {
    const longest = snapshot({ command: 'x'.repeat(1024), user: 'u'.repeat(128), run: 'r'.repeat(128), failedUnits: Array.from({ length: 256 }, (_, i) => `u${i}.service`) });
    expect(parseRequest(line(longest))).toEqual(longest);
    // Printable text beyond ASCII is text, not a control.
    expect(parseRequest(line(snapshot({ user: 'jürgen' })))).toMatchObject({ user: 'jürgen' });
  });
});

describe('answers and refusals on the host', () => {
  it('an answer is one JSON line', () => {
    const text = answerLine({ ok: false, error: 'no' });
    expect(text).toBe('{"ok":false,"error":"no"}\n');
    expect(text.split('\n')).toHaveLength(2);
  });

  it('a string from inside is shown flattened to one printable line, and cut', () => {
    expect(printable('a\nb\u001b[31mc\u009bd')).toBe('a?b?[31mc?d');
    expect(printable('x'.repeat(300))).toBe(`${'x'.repeat(200)}…`);
    expect(printable('abcdef', 3)).toBe('abc…');
  });
});
