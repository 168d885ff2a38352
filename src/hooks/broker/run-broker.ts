// `safeupdate hooks broker KEY`: one hooked instance's broker, as systemd's socket activation starts
// it (the listening socket handed in as fd 3), or on a host without systemd on a socket it makes.
import { appendFile, chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Lxd } from '../../lxd/lxd.js';
import type { HandleDeps } from './handle.js';
import { loadMemory, memoryFile, saveMemory } from './memory.js';
import { hooksStateDir, readRegistration, socketPath, type Registration } from './registration.js';
import { brokerServer, type BrokerLog } from './server.js';

/** systemd's first passed descriptor (sd_listen_fds). */
const SD_LISTEN_FDS_START = 3;

export interface BrokerRun {
  key: string;
  stateDir: string;
  env: NodeJS.ProcessEnv;
  /** Listen on the socket path itself, where nothing hands one in. */
  listen: boolean;
  idleMs: number | null;
  lxdFor: (registration: Registration) => Lxd;
  stderr: (text: string) => void;
}

/** Whether systemd handed this process its socket. */
export function activated(env: NodeJS.ProcessEnv): boolean {
  return env.LISTEN_FDS === '1' && (env.LISTEN_PID === undefined || env.LISTEN_PID === String(process.pid));
}

/**
 * Serves until idle (socket activation) or a signal. The log is the host's: a line per request to
 * stderr (the journal under systemd) and to `<state>/hooks/KEY.log`. Resolves when it stopped.
 */
export async function runBroker(run: BrokerRun): Promise<void> {
  const registration = await readRegistration(run.stateDir, run.key);
  if (!registration) throw new Error(`no hook is registered as ${run.key} on this host (${hooksStateDir(run.stateDir)}): safeupdate hooks install INSTANCE --mode snapshot`);
  const logFile = join(hooksStateDir(run.stateDir), `${run.key}.log`);
  const log: BrokerLog = (level, message) => {
    const line = `${new Date().toISOString()} ${level} ${message}\n`;
    run.stderr(line);
    appendFile(logFile, line, { mode: 0o600 }).catch((error: Error) => run.stderr(`safeupdate broker: cannot write ${logFile}: ${error.message}\n`));
  };
  const file = memoryFile(run.stateDir, run.key);
  const { memory, problem } = await loadMemory(file);
  if (problem) log('warning', `${registration.instance}: ${problem}`);
  const deps: HandleDeps = {
    lxd: run.lxdFor(registration),
    stateDir: run.stateDir,
    registration,
    memory,
    remember: () => saveMemory(file, memory).catch((error: Error) => log('warning', `cannot save ${file}: ${error.message}`)),
    now: () => new Date(),
  };
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const server = brokerServer({
    deps, log, idleMs: run.idleMs, onIdle: () => server.close(() => stop()),
    reloadRegistration: () => readRegistration(run.stateDir, run.key),
  });
  server.on('error', (error) => {
    log('warning', `${registration.instance}: the socket failed: ${error.message}`);
    stop();
  });
  const path = socketPath(run.key);
  if (activated(run.env)) {
    server.listen({ fd: SD_LISTEN_FDS_START });
  } else if (run.listen) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await chmod(dirname(path), 0o700);
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => server.listen(path, resolve).once('error', reject));
    await chmod(path, 0o600);
  } else {
    throw new Error(`no socket was handed in (LISTEN_FDS): run it from ${`safeupdate-hook@${run.key}.socket`} or with --listen`);
  }
  log('info', `${registration.instance}: broker ${registration.version} serving ${activated(run.env) ? 'the socket systemd passed' : path}`);
  const onSignal = () => server.close(() => stop());
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await stopped;
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  }
}
