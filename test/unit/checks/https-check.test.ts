import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckContext, CheckDefinition } from '../../../src/checks/check.js';
import { httpAttempt } from '../../../src/checks/http-check.js';
import { checkFromEntry } from '../../../src/checks/spec.js';
import { UsageError } from '../../../src/errors.js';
import { FakeLxd } from '../../support/fake-lxd.js';

// A real HTTPS server on loopback with a self-signed certificate made for this test by openssl.
let dir: string;
let server: Server;
let url: string;

async function selfSigned(name: string): Promise<{ key: string; cert: string }> {
  await execa('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=safeupdate test', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`),
  ]);
  return { key: await readFile(join(dir, `${name}.key`), 'utf8'), cert: await readFile(join(dir, `${name}.pem`), 'utf8') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-https-'));
  const { key, cert } = await selfSigned('server');
  await selfSigned('other');
  server = createServer({ key, cert }, (req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/health' });
      return void res.end();
    }
    res.end('ok 1.1\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const context: CheckContext = { lxd: new FakeLxd(), ref: { remote: null, name: 'web1', project: null }, phase: 'after-update', baselineFailedUnits: [] };

function attempt(check: CheckDefinition) {
  if (check.spec.kind !== 'http') throw new Error('not an http check');
  return httpAttempt(check.spec.url, check.spec.expect, check.spec.tls)(context, 2_000);
}

describe('an https check against a self-signed certificate', () => {
  it('fails without a CA of its own, and says how to trust the certificate', async () => {
    const result = await attempt(checkFromEntry({ http: `${url}/health`, expect: 'ok' }));
    expect(result).toMatchObject({ state: 'retry', message: expect.stringContaining('DEPTH_ZERO_SELF_SIGNED_CERT: the certificate is not trusted') });
    expect(result.message).toContain('ca: FILE');
  });

  it('passes with the certificate given as its CA', async () => {
    const result = await attempt(checkFromEntry({ http: `${url}/health`, expect: 'ok', ca: join(dir, 'server.pem') }));
    expect(result).toEqual({ state: 'pass', message: 'HTTP 200, body has "ok"' });
  });

  it('fails with a CA that did not sign the certificate, naming the CA file', async () => {
    const result = await attempt(checkFromEntry({ http: `${url}/health`, ca: join(dir, 'other.pem') }));
    expect(result).toMatchObject({ state: 'retry', message: expect.stringContaining(`not signed by the CA in ${join(dir, 'other.pem')}`) });
  });

  it('passes with insecure: true, and says that the certificate was not verified', async () => {
    const result = await attempt(checkFromEntry({ http: `${url}/health`, expect: 'ok', insecure: true }));
    expect(result).toEqual({ state: 'pass', message: 'HTTP 200, body has "ok" (certificate not verified: insecure)' });
  });

  it('still does not follow redirects', async () => {
    const result = await attempt(checkFromEntry({ http: `${url}/moved`, insecure: true }));
    expect(result).toMatchObject({ state: 'retry', message: `HTTP 302 from ${url}/moved (certificate not verified: insecure)` });
  });

  it('refuses a CA together with insecure, and a CA file that is not there', () => {
    const both = () => checkFromEntry({ http: `${url}/`, ca: join(dir, 'server.pem'), insecure: true });
    expect(both).toThrow(UsageError);
    expect(both).toThrow('ca and insecure: give one of them');
    const missing = () => checkFromEntry({ http: `${url}/`, ca: join(dir, 'missing.pem') });
    expect(missing).toThrow(UsageError);
    expect(missing).toThrow(`ca: cannot read ${join(dir, 'missing.pem')} (ENOENT)`);
  });
});
