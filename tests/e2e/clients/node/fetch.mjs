// Node's fetch (undici) through oauth1-proxy: Node 20's built-in fetch ignores
// proxy variables, so undici's ProxyAgent carries the request (CONNECT), and
// the mitmproxy CA is the only trusted root for the tunnelled TLS.
//
//   PROXY_URL=http://127.0.0.1:PORT CA_FILE=ca.pem [STREAM_BODY=1] node fetch.mjs METHOD URL [FORM_BODY]
//
// STREAM_BODY=1 sends the body as a ReadableStream of two chunks (no
// Content-Length: undici sends it chunked).
// Prints one JSON line: {"status": N, "body": "..."}.
import { readFileSync } from "node:fs";
import { fetch, ProxyAgent } from "undici";

const [method, url, body] = process.argv.slice(2);
const dispatcher = new ProxyAgent({
  uri: process.env.PROXY_URL,
  requestTls: { ca: readFileSync(process.env.CA_FILE, "utf8") },
});
const init = { method, dispatcher };
if (body !== undefined) {
  init.headers = { "content-type": "application/x-www-form-urlencoded" };
  if (process.env.STREAM_BODY === "1") {
    const bytes = new TextEncoder().encode(body);
    init.body = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    init.duplex = "half";
  } else {
    init.body = body;
  }
}
try {
  const response = await fetch(url, init);
  const text = await response.text();
  process.stdout.write(JSON.stringify({ status: response.status, body: text }) + "\n");
} catch (error) {
  process.stderr.write(`node fetch ${method} ${url} failed: ${error}${error.cause ? " (" + error.cause + ")" : ""}\n`);
  process.exit(2);
} finally {
  await dispatcher.close();
}
