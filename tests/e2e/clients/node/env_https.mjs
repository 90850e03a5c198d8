// Node's `https` module through the proxy that HTTPS_PROXY names (oauth1-proxy exec
// sets it): a CONNECT tunnel opened with `http`, then `https.request` over it.
// Trust comes from NODE_EXTRA_CA_CERTS alone (no `ca` option here).
//
//   node env_https.mjs URL      prints {"status": N, "body": "..."}
import http from "node:http";
import https from "node:https";
import tls from "node:tls";

const target = new URL(process.argv[2]);
const proxy = new URL(process.env.HTTPS_PROXY);
const authority = `${target.hostname}:${target.port || 443}`;
const connect = http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: authority });
connect.on("connect", (res, socket) => {
  if (res.statusCode !== 200) {
    process.stderr.write(`CONNECT ${authority}: ${res.statusCode}\n`);
    process.exit(2);
  }
  const agent = new https.Agent({ keepAlive: false });
  agent.createConnection = () => tls.connect({ socket, servername: target.hostname });
  const req = https.request(target, { agent }, (response) => {
    let body = "";
    response.setEncoding("utf8");
    response.on("data", (chunk) => { body += chunk; });
    response.on("end", () => {
      process.stdout.write(JSON.stringify({ status: response.statusCode, body }) + "\n");
      socket.destroy();
    });
  });
  req.on("error", (error) => { process.stderr.write(`https ${target}: ${error}\n`); process.exit(2); });
  req.end();
});
connect.on("error", (error) => { process.stderr.write(`CONNECT via ${proxy}: ${error}\n`); process.exit(2); });
connect.end();
