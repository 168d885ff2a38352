import type { CheckContext } from './check.js';

export const IP_PLACEHOLDER = '{ip}';

/** Replaces `{ip}` with the instance's IPv4 address, asked of LXD anew on every attempt. */
export async function resolveAddress(text: string, { lxd, ref }: CheckContext): Promise<string> {
  if (!text.includes(IP_PLACEHOLDER)) return text;
  const [address] = await lxd.getIPv4Addresses(ref);
  if (!address) throw new Error(`${ref.name} has no IPv4 address for {ip} (yet)`);
  return text.replaceAll(IP_PLACEHOLDER, address);
}
