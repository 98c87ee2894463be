// The agent's refusal of some hosts in AWS-StartPortForwardingSessionToRemoteHost (amazon-ssm-agent
// agent/session/plugins/port/port.go validateParameters; loopback and the container credential
// endpoints since 3.3.4851.0): it resolves the document's host and refuses the session when any
// address is denied, naming the host as the document gave it. Resolving is what canonicalizes:
// "127.1", "0x7f000001", "::ffff:127.0.0.1" and "localhost" all come out as loopback.
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

const denied = new BlockList();
denied.addSubnet("127.0.0.0", 8, "ipv4");
denied.addAddress("::1", "ipv6");
// ECS task credentials, EKS Pod Identity.
for (const address of ["169.254.170.2", "169.254.170.23"]) denied.addAddress(address, "ipv4");
denied.addAddress("fd00:ec2::23", "ipv6");
// The agent's DefaultDeniedPortForwardingRemoteIPs: IMDS, Route 53 Resolver, time sync, and the rest.
for (const address of ["169.254.169.254", "169.254.169.253", "169.254.169.123", "169.254.169.250", "169.254.169.251"]) denied.addAddress(address, "ipv4");
for (const address of ["fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123", "fd00:ec2::240"]) denied.addAddress(address, "ipv6");

export function forbiddenHostMessage(host: string): string {
  return `Forwarding to IP address ${host} is forbidden.`;
}

/** Whether one resolved address is on the agent's denylist (an IPv4-mapped IPv6 address counts as its IPv4). */
export function isDeniedAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return denied.check(mapped[1]!, "ipv4");
  const family = isIP(address);
  if (family === 0) return false;
  return denied.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Resolves `host` as the agent does; a name that does not resolve is not refused here (the dial fails later). */
export async function isDeniedHost(host: string): Promise<boolean> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  let addresses: string[];
  try {
    addresses = (await lookup(bare, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return false;
  }
  return addresses.some(isDeniedAddress);
}
