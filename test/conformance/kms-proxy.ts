// AWS's plugin calls KMS at https://kms.<region>.amazonaws.com whatever AWS_ENDPOINT_URL says (its
// aws-sdk-go session has no endpoint for KMS). For the KMS shell case it is given HTTPS_PROXY: this
// loopback proxy accepts the CONNECT, ends TLS with a certificate made for this run (AWS_CA_BUNDLE
// names it) and hands each request to the local cloud. Nothing else goes through it.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket, createSecureContext } from "node:tls";
import { promisify } from "node:util";

export interface KmsProxy {
  /** HTTPS_PROXY and AWS_CA_BUNDLE for the plugin. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startKmsProxy(cloudEndpoint: string, region: string): Promise<KmsProxy> {
  const host = `kms.${region}.amazonaws.com`;
  const dir = mkdtempSync(join(tmpdir(), "conformance-kms-"));
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    `/CN=${host}`,
    "-addext",
    `subjectAltName=DNS:${host}`,
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ]);
  const context = createSecureContext({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) });
  const target = new URL(cloudEndpoint);
  // Requests inside the tunnel, relayed to the gateway as they came (it routes KMS by X-Amz-Target).
  const inner = createServer((req: IncomingMessage, res: ServerResponse) => {
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  const outer = createServer((_req, res) => res.writeHead(405).end());
  outer.on("connect", (req: IncomingMessage, socket, head) => {
    if (req.url !== `${host}:443`) return void socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length) socket.unshift(head);
    const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
    tls.on("error", () => socket.destroy());
    inner.emit("connection", tls);
  });
  await new Promise<void>((resolve) => outer.listen(0, "127.0.0.1", resolve));
  const port = (outer.address() as { port: number }).port;
  return {
    env: { HTTPS_PROXY: `http://127.0.0.1:${port}`, AWS_CA_BUNDLE: join(dir, "cert.pem") },
    close: async () => {
      outer.closeAllConnections();
      inner.closeAllConnections();
      await new Promise<void>((resolve) => outer.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
