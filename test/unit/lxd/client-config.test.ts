import { describe, expect, it } from 'vitest';
import { clientConfigDir, endpointFor, localSocket, parseClientConfig } from '../../../src/lxd/client-config.js';
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

describe('clientConfigDir', () => {
  it('$LXD_CONF, else ~/.config/lxc, else the snap folder when only that exists', () => {
    expect(clientConfigDir(LXC, { LXD_CONF: '/job/lxd', HOME: '/h' }, none)).toBe('/job/lxd');
    expect(clientConfigDir(LXC, { HOME: '/h' }, none)).toBe('/h/.config/lxc');
    expect(clientConfigDir(LXC, { HOME: '/h' }, only('/h/snap/lxd/common/config'))).toBe('/h/snap/lxd/common/config');
    expect(clientConfigDir(LXC, { HOME: '/h' }, only('/h/.config/lxc', '/h/snap/lxd/common/config'))).toBe('/h/.config/lxc');
    expect(clientConfigDir(INCUS, { HOME: '/h', INCUS_CONF: '/i' }, none)).toBe('/i');
    expect(clientConfigDir(INCUS, { HOME: '/h' }, only('/h/snap/lxd/common/config'))).toBe('/h/.config/incus');
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

  it('local: $LXD_SOCKET, else $LXD_DIR/unix.socket, else the default folder (or the snap when only it exists)', () => {
    expect(endpointFor(LXC, config, 'local', {}, none)).toEqual({ kind: 'unix', socketPath: '/var/lib/lxd/unix.socket' });
    expect(endpointFor(LXC, config, 'local', { LXD_DIR: '/srv/lxd2' }, none)).toEqual({ kind: 'unix', socketPath: '/srv/lxd2/unix.socket' });
    expect(endpointFor(LXC, config, 'local', { LXD_SOCKET: '/s', LXD_DIR: '/srv/lxd2' }, none)).toEqual({ kind: 'unix', socketPath: '/s' });
    expect(localSocket(LXC, {}, only('/var/snap/lxd/common/lxd/unix.socket'))).toBe('/var/snap/lxd/common/lxd/unix.socket');
    expect(localSocket(INCUS, { INCUS_DIR: '/x' }, none)).toBe('/x/unix.socket');
    expect(localSocket(INCUS, {}, none)).toBe('/var/lib/incus/unix.socket');
    // The snap is LXD's: Incus never looks there, and LXD only when its own folder has no socket.
    expect(localSocket(INCUS, {}, only('/var/snap/lxd/common/lxd/unix.socket'))).toBe('/var/lib/incus/unix.socket');
    expect(localSocket(LXC, {}, only('/var/lib/lxd/unix.socket', '/var/snap/lxd/common/lxd/unix.socket'))).toBe('/var/lib/lxd/unix.socket');
    expect(localSocket(INCUS, { INCUS_SOCKET: '/i.sock', LXD_SOCKET: '/l.sock' }, none)).toBe('/i.sock');
  });

  it('a unix:// address with a path is that socket', () => {
    expect(endpointFor(LXC, config, 'sock', {}, none)).toEqual({ kind: 'unix', socketPath: '/run/other.socket' });
  });

  it('HTTPS with tls auth and the client certificate, the stored server certificate when there is one', () => {
    const files = ['/c/client.crt', '/c/client.key', '/c/servercerts/srv.crt'];
    expect(endpointFor(LXC, config, 'srv', {}, only(...files))).toEqual({
      kind: 'https', url: new URL('https://127.0.0.1:8444'), clientCert: '/c/client.crt', clientKey: '/c/client.key', serverCert: '/c/servercerts/srv.crt',
    });
    expect(endpointFor(LXC, config, 'srv', {}, only(...files.slice(0, 2)))).toMatchObject({ kind: 'https', serverCert: null });
  });

  it('left to the client: plain HTTP, an unknown protocol', () => {
    const odd = parseClientConfig(LXC, '/c', { remotes: { plain: { addr: 'http://127.0.0.1:8443' }, other: { addr: 'https://127.0.0.1:8443', protocol: 'docker' } } }, {});
    const certs = only('/c/client.crt', '/c/client.key');
    expect(endpointFor(LXC, odd, 'plain', {}, certs)).toBeNull();
    expect(endpointFor(LXC, odd, 'other', {}, certs)).toBeNull();
    expect(endpointFor(INCUS, parseClientConfig(INCUS, '/c', { remotes: { srv: { addr: 'https://h:8443' } } }, {}), 'srv', {}, certs)).toMatchObject({ kind: 'https' });
  });

  it('left to the client: no client certificate, a PKI client.ca, another auth, simplestreams, an unknown remote', () => {
    expect(endpointFor(LXC, config, 'srv', {}, only('/c/client.crt'))).toBeNull();
    expect(endpointFor(LXC, config, 'srv', {}, only('/c/client.crt', '/c/client.key', '/c/client.ca'))).toBeNull();
    expect(endpointFor(LXC, config, 'oidc', {}, only('/c/client.crt', '/c/client.key'))).toBeNull();
    expect(endpointFor(LXC, config, 'images', {}, only('/c/client.crt', '/c/client.key'))).toBeNull();
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
