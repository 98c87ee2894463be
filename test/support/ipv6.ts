// Whether this host has IPv6 loopback (::1 on an interface). Without it nobody can listen on [::1],
// so the forwards hold 127.0.0.1 only and the [::1] cases have nothing to test.
import { networkInterfaces } from "node:os";

export const HAS_IPV6_LOOPBACK = Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.internal && a.address === "::1"));
