// The StartSession request each forward is planned as: loopback forwards are a port on the target itself.
import { describe, expect, it } from "vitest";
import { DOC_PORT_FORWARD, DOC_PORT_FORWARD_REMOTE } from "../../../lib/constants.ts";
import { portForwardRequest } from "../../../lib/session/documents.ts";

describe("remote hosts the agent refuses", () => {
  it("plans a loopback host as a port on the target itself, never as a remote host", () => {
    for (const host of ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"]) {
      expect(portForwardRequest("mi-1", { localPort: 0, host, remotePort: 5432 }, 15432)).toEqual({
        Target: "mi-1",
        DocumentName: DOC_PORT_FORWARD,
        Parameters: { portNumber: ["5432"], localPortNumber: ["15432"] },
      });
    }
    expect(portForwardRequest("mi-1", { localPort: 0, host: "db.internal", remotePort: 5432 }, 0).DocumentName).toBe(DOC_PORT_FORWARD_REMOTE);
  });
});
