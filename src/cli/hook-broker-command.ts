import type { Command } from 'commander';
import { stateDir } from '../config/paths.js';
import { parseDuration, TIMER_LIMIT } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { isKey } from '../hooks/broker/registration.js';
import { INCUS, LXC } from '../lxd/dialect.js';
import { EXIT } from '../report/exit-codes.js';
import { lxdFor } from './shared.js';
import type { Io } from './io.js';

/** Under socket activation the broker leaves after this long without a request; systemd starts it again at the next. */
const DEFAULT_IDLE = '5m';

/** `hooks broker KEY`: the host side of one instance's snapshot-mode hook (hooks/systemd/safeupdate-hook@.service). */
export function addBrokerCommand(hooks: Command, io: Io, setExitCode: (code: number) => void): void {
  hooks
    .command('broker')
    .description("serve one hooked instance's requests (a snapshot before dpkg, the checks' result after); started by safeupdate-hook@KEY.socket")
    .argument('<key>', 'client.project.instance, as install registered it (lxc.default.web1)')
    .option('--listen', 'make the socket /run/safeupdate/hooks/KEY.sock itself (a host without systemd); serve until stopped')
    .option('--idle <duration>', `with socket activation: stop after this long without a request (default ${DEFAULT_IDLE})`)
    .addHelpText('after', '\nExamples:\n  systemctl enable --now safeupdate-hook@lxc.default.web1.socket   # what hooks install does\n  safeupdate hooks broker lxc.default.web1 --listen                # a host without systemd\n\nExit codes: 0 stopped (idle or a signal), 2 bad input, 3 could not start (no registration, no socket).')
    .action(async (key: string, flags: { listen?: boolean; idle?: string }) => {
      if (!isKey(key)) throw new UsageError(`broker "${key}": expected client.project.instance, as "safeupdate hooks status" shows it`);
      const idleMs = flags.listen ? null : parseDuration(flags.idle ?? DEFAULT_IDLE, '--idle', TIMER_LIMIT);
      // Loaded here: the broker's protocol parser (zod) is no part of any other command's start.
      const { runBroker } = await import('../hooks/broker/run-broker.js');
      try {
        await runBroker({
          key,
          stateDir: stateDir(io.env),
          env: io.env,
          listen: flags.listen ?? false,
          idleMs,
          // The registered daemon, whatever this process's environment says.
          lxdFor: (registration) => {
            const dialect = registration.client === 'incus' ? INCUS : LXC;
            return lxdFor({ ...io, client: registration.client, env: { ...io.env, [dialect.daemonDirEnv]: registration.daemonDir } });
          },
          stderr: io.stderr,
        });
        setExitCode(EXIT.ok);
      } catch (error) {
        io.stderr(`safeupdate: broker ${key}: ${error instanceof Error ? error.message : String(error)}\n`);
        setExitCode(EXIT.couldNotStart);
      }
    });
}
