import { describe, expect, it } from 'vitest';
import { clientConfigDir, endpointFor, isSnapClient, localSocket, parseClientConfig } from '../../../src/lxd/client-config.js';
import { INCUS, LXC } from '../../../src/lxd/dialect.js';

// The client's configuration read as the client reads it (lxc/config/file.go), and which remotes
// safeupdate reaches without the client.

const none = () => false;
const only = (...paths: string[]) => (path: string) => paths.includes(path);

describe('parseClientConfig', () => {
  it('no file is the default configuration: local over the socket, the default project', () => {
    const config = parseClientConfig(LXC, '/c', {}, {});
    expect(config).toEqual({ dir: '/c', defaultRemote: 'local', remotes: { local: { addr: 'unix://', protocol: 'lxd', authType: 'tls', project: '', public: false } } });
  });

  it('local is always the socket: the file keeps only its project', () => {
    const config = parseClientConfig(LXC, '/c', { remotes: { local: { addr: 'https://evil:8443', project: 'qa' } } }, {});
    expect(config.remotes.local).toEqual({ addr: 'unix://', protocol: 'lxd', authType: 'tls', project: 'qa', public: false });
  });

  it('a private remote without auth_type is tls; a public one has none; protocol defaults to the dialect', () => {
    const config = parseClientConfig(INCUS, '/c', { 'default-remote': 'srv', remotes: { srv: { addr: 'https://1.2.3.4:8443', project: 'prod' }, images: { addr: 'https://images', protocol: 'simplestreams', public: true } } }, {});
    expect(config.defaultRemote).toBe('srv');
    expect(config.remotes.srv).toEqual({ addr: 'https://1.2.3.4:8443', protocol: 'incus', authType: 'tls', project: 'prod', public: false });
    expect(config.remotes.images).toEqual({ addr: 'https://images', protocol: 'simplestreams', authType: '', project: '', public: true });
  });

  it('LXC_REMOTE (INCUS_REMOTE) overrides the default remote', () => {
    expect(parseClientConfig(LXC, '/c', { 'default-remote': 'a' }, { LXC_REMOTE: 'b' }).defaultRemote).toBe('b');
    expect(parseClientConfig(INCUS, '/c', { 'default-remote': 'a' }, { INCUS_REMOTE: 'c', LXC_REMOTE: 'b' }).defaultRemote).toBe('c');
  });

  it('values of the wrong type are taken as absent, as the client would fail to use them', () => {
    const config = parseClientConfig(LXC, '/c', { 'default-remote': 7, remotes: { srv: { addr: 5, protocol: '', auth_type: 3, project: ['p'], public: 'yes' } } }, {});
    expect(config.defaultRemote).toBe('local');
    expect(config.remotes.srv).toEqual({ addr: '', protocol: 'lxd', authType: 'tls', project: '', public: false });
    expect(parseClientConfig(LXC, '/c', 'not a map', {}).remotes).toEqual({ local: expect.objectContaining({ addr: 'unix://' }) });
    expect(Object.keys(parseClientConfig(LXC, '/c', { remotes: 'x' }, {}).remotes)).toEqual(['local']);
  });

  it('entries that are not maps are skipped, not fatal', () => {
    expect(Object.keys(parseClientConfig(LXC, '/c', { remotes: { bad: 'x', alsobad: null } }, {}).remotes)).toEqual(['local']);
  });
});

describe('clientConfigDir and the snap', () => {
  it('$LXD_CONF ($INCUS_CONF), else ~/.config/<client>', () => {
    expect(clientConfigDir(LXC, { LXD_CONF: '/job/lxd', HOME: '/h' })).toBe('/job/lxd');
    expect(clientConfigDir(LXC, { HOME: '/h' })).toBe('/h/.config/lxc');
    expect(clientConfigDir(INCUS, { HOME: '/h', INCUS_CONF: '/i', LXD_CONF: '/l' })).toBe('/i');
    expect(clientConfigDir(INCUS, { HOME: '/h' })).toBe('/h/.config/incus');
  });

  it("the snap's client (its wrapper picks its own folders) is told apart from a plain one", async () => {
    const { mkdir, mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'snap-client-'));
    try {
      await mkdir(join(dir, 'plain'));
      await writeFile(join(dir, 'plain', 'lxc'), '#!/bin/sh\n', { mode: 0o755 });
      await mkdir(join(dir, 'snapbin'));
      await writeFile(join(dir, 'snapbin', 'lxc'), '#!/bin/sh\n', { mode: 0o755 });
      // This machine has no snapd: the link /snap/bin/lxc -> /usr/bin/snap is told by the resolver.
      const realpath = (path: string) => (path.startsWith(join(dir, 'snapbin')) ? '/usr/bin/snap' : path);
      expect(isSnapClient(LXC, { PATH: join(dir, 'plain') }, realpath)).toBe(false);
      expect(isSnapClient(LXC, { PATH: `${join(dir, 'nothing')}:${join(dir, 'plain')}:${join(dir, 'snapbin')}` }, realpath)).toBe(false);
      expect(isSnapClient(LXC, { PATH: `:${join(dir, 'snapbin')}:${join(dir, 'plain')}` }, realpath)).toBe(true);
      expect(isSnapClient(LXC, { PATH: join(dir, 'plain') }, () => '/snap/lxd/current/bin/lxc')).toBe(true);
      expect(isSnapClient(INCUS, { PATH: join(dir, 'snapbin') }, realpath)).toBe(false);
      expect(isSnapClient(LXC, {})).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('endpointFor', () => {
  const remotes = {
    srv: { addr: 'https://127.0.0.1:8444', protocol: 'lxd' },
    oidc: { addr: 'https://127.0.0.1:8445', auth_type: 'oidc' },
    images: { addr: 'https://images', protocol: 'simplestreams', public: true },
    sock: { addr: 'unix:///run/other.socket' },
  };
  const config = parseClientConfig(LXC, '/c', { remotes }, {});

  const usable = () => true;

  it('local: $LXD_SOCKET, else $LXD_DIR/unix.socket, else the default folder; a socket this user cannot use is the client\'s', () => {
    expect(endpointFor(LXC, config, 'local', {}, none, usable)).toEqual({ kind: 'unix', socketPath: '/var/lib/lxd/unix.socket' });
    expect(endpointFor(LXC, config, 'local', { LXD_DIR: '/srv/lxd2' }, none, usable)).toEqual({ kind: 'unix', socketPath: '/srv/lxd2/unix.socket' });
    expect(endpointFor(LXC, config, 'local', { LXD_SOCKET: '/s', LXD_DIR: '/srv/lxd2' }, none, usable)).toEqual({ kind: 'unix', socketPath: '/s' });
    expect(endpointFor(LXC, config, 'local', {}, none, (path) => path !== '/var/lib/lxd/unix.socket')).toBeNull();
    expect(localSocket(INCUS, { INCUS_DIR: '/x' })).toBe('/x/unix.socket');
    expect(localSocket(INCUS, {})).toBe('/var/lib/incus/unix.socket');
    expect(localSocket(INCUS, { INCUS_SOCKET: '/i.sock', LXD_SOCKET: '/l.sock' })).toBe('/i.sock');
  });

  it('a unix:// address with a path is that socket', () => {
    expect(endpointFor(LXC, config, 'sock', {}, none, usable)).toEqual({ kind: 'unix', socketPath: '/run/other.socket' });
  });

  const certs = only('/c/client.crt', '/c/client.key', '/c/servercerts/srv.crt', '/c/servercerts/other.crt', '/c/servercerts/plain.crt');

  it('HTTPS with tls auth, the client certificate and the stored server certificate', () => {
    expect(endpointFor(LXC, config, 'srv', {}, certs)).toEqual({
      kind: 'https', url: new URL('https://127.0.0.1:8444'), clientCert: '/c/client.crt', clientKey: '/c/client.key', serverCert: '/c/servercerts/srv.crt',
    });
  });

  it('left to the client: no stored server certificate (the system trust store decides), a proxy in the environment', () => {
    expect(endpointFor(LXC, config, 'srv', {}, only('/c/client.crt', '/c/client.key'))).toBeNull();
    for (const proxy of ['HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy']) expect(endpointFor(LXC, config, 'srv', { [proxy]: 'http://proxy:3128' }, certs), proxy).toBeNull();
    expect(endpointFor(LXC, config, 'srv', { HTTP_PROXY: 'http://proxy:3128' }, certs)).toMatchObject({ kind: 'https' });
  });

  it('left to the client: plain HTTP, an unknown protocol', () => {
    const odd = parseClientConfig(LXC, '/c', { remotes: { plain: { addr: 'http://127.0.0.1:8443' }, other: { addr: 'https://127.0.0.1:8443', protocol: 'docker' } } }, {});
    expect(endpointFor(LXC, odd, 'plain', {}, certs)).toBeNull();
    expect(endpointFor(LXC, odd, 'other', {}, certs)).toBeNull();
    expect(endpointFor(INCUS, parseClientConfig(INCUS, '/c', { remotes: { srv: { addr: 'https://h:8443' } } }, {}), 'srv', {}, certs)).toMatchObject({ kind: 'https' });
  });

  it('left to the client: no client certificate, a PKI client.ca, another auth, simplestreams, an unknown remote', () => {
    expect(endpointFor(LXC, config, 'srv', {}, only('/c/client.crt'))).toBeNull();
    expect(endpointFor(LXC, config, 'srv', {}, only('/c/client.crt', '/c/client.key', '/c/servercerts/srv.crt', '/c/client.ca'))).toBeNull();
    expect(endpointFor(LXC, config, 'oidc', {}, only('/c/client.crt', '/c/client.key', '/c/servercerts/oidc.crt'))).toBeNull();
    expect(endpointFor(LXC, config, 'images', {}, only('/c/client.crt', '/c/client.key', '/c/servercerts/images.crt'))).toBeNull();
    expect(endpointFor(LXC, config, 'nosuch', {}, none)).toBeNull();
  });
});

describe('loadClientConfig', () => {
  it('reads config.yml from the folder; a missing file is the default; a file that is not YAML is null (the client will say why)', async () => {
    const { mkdir, mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadClientConfig } = await import('../../../src/lxd/client-config.js');
    const dir = await mkdtemp(join(tmpdir(), 'client-config-'));
    try {
      expect(await loadClientConfig(LXC, { LXD_CONF: dir })).toMatchObject({ dir, defaultRemote: 'local' });
      await writeFile(join(dir, 'config.yml'), 'default-remote: srv\nremotes:\n  srv:\n    addr: https://127.0.0.1:8444\n    project: prod\n');
      expect((await loadClientConfig(LXC, { LXD_CONF: dir }))?.remotes.srv).toMatchObject({ addr: 'https://127.0.0.1:8444', project: 'prod', authType: 'tls' });
      await writeFile(join(dir, 'config.yml'), 'remotes: [unclosed\n');
      expect(await loadClientConfig(LXC, { LXD_CONF: dir })).toBeNull();
      // A file that exists but cannot be read (here a folder) is not the default configuration either.
      await rm(join(dir, 'config.yml'));
      await mkdir(join(dir, 'config.yml'));
      expect(await loadClientConfig(LXC, { LXD_CONF: dir })).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
