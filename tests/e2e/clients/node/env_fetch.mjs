// fetch through the proxy the environment names. Node 20's built-in fetch
// reads no proxy variable (NODE_USE_ENV_PROXY arrived in Node 24 and 22.21),
// so this uses undici's EnvHttpProxyAgent, which reads HTTP(S)_PROXY and
// NO_PROXY as curl does; trust comes from NODE_EXTRA_CA_CERTS alone.
//
//   node env_fetch.mjs URL      prints {"status": N, "body": "...", "builtin_env_proxy": bool}
import { EnvHttpProxyAgent, fetch, setGlobalDispatcher } from "undici";

const [major, minor] = process.versions.node.split(".").map(Number);
const builtin = major >= 24 || (major === 22 && minor >= 21);
if (!builtin) setGlobalDispatcher(new EnvHttpProxyAgent());
const run = builtin ? globalThis.fetch : fetch;
try {
  const response = await run(process.argv[2]);
  const body = await response.text();
  process.stdout.write(JSON.stringify({ status: response.status, body, builtin_env_proxy: builtin }) + "\n");
} catch (error) {
  process.stderr.write(`fetch ${process.argv[2]} failed: ${error}${error.cause ? " (" + error.cause + ")" : ""}\n`);
  process.exit(2);
}
