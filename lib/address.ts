// Which addresses are this machine only: one rule for where we listen (--address) and for the stream
// URLs the native client accepts in clear text.
import { isIP } from "node:net";

/** Where local ports listen unless told otherwise: this machine only. */
export const DEFAULT_ADDRESS = "127.0.0.1";

/** 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z): nothing off this machine can connect. */
export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith("127.");
  if (isIP(address) !== 6) return false;
  // The WHATWG URL parser writes IPv6 in its shortest form: ::1, ::ffff:7f00:1.
  let short: string;
  try {
    short = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return false; // a zone id (fe80::1%eth0): link-local, not loopback
  }
  return short === "::1" || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(short);
}

/** A URL's host is this machine: a loopback literal, or the name localhost (RFC 6761). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return host.toLowerCase() === "localhost" || isLoopbackAddress(host);
}
