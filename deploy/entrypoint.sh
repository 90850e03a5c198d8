#!/bin/sh
# The image's entry point (deploy/Dockerfile): `oauth1-proxy run` set up from environment variables, or
# `entrypoint.sh healthcheck [PATH]` for the image's HEALTHCHECK (GET /healthz on the ops listener).
#
#   OAUTH1_PROXY_CONFIG       the YAML config (secrets in it as ${file:/run/secrets/NAME} or ${VAR})
#   OAUTH1_PROXY_CONFDIR      mitmproxy's confdir: the CA every instance shares (a volume)
#   OAUTH1_PROXY_LISTEN_HOST  the proxy's address (0.0.0.0 in a container: the pod's network)
#   OAUTH1_PROXY_LISTEN_PORT  the proxy's port
#   OAUTH1_PROXY_OPS_LISTEN   HOST:PORT of /healthz, /readyz and /metrics
#
# Arguments (the image's CMD, or `docker run IMAGE ARGS`) are added to `oauth1-proxy run`: mitmdump
# options such as --proxyauth, --mode upstream:URL or --set oauth1_helper_clients=10.0.0.0/8.
set -eu
: "${OAUTH1_PROXY_CONFIG:=/etc/oauth1-proxy/config.yaml}"
: "${OAUTH1_PROXY_CONFDIR:=/data/confdir}"
: "${OAUTH1_PROXY_LISTEN_HOST:=0.0.0.0}"
: "${OAUTH1_PROXY_LISTEN_PORT:=8080}"
: "${OAUTH1_PROXY_OPS_LISTEN:=0.0.0.0:9090}"

if [ "${1:-}" = healthcheck ]; then
    exec python3 - "$OAUTH1_PROXY_OPS_LISTEN" "${2:-/healthz}" <<'PY'
import sys
import urllib.request

host, _, port = sys.argv[1].rpartition(":")
host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through HTTP_PROXY
try:
    with opener.open(f"http://{host}:{port}{sys.argv[2]}", timeout=3) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception as e:
    print(f"oauth1-proxy healthcheck: {sys.argv[2]} failed: {e}", file=sys.stderr)
    sys.exit(1)
PY
fi

exec oauth1-proxy run --config "$OAUTH1_PROXY_CONFIG" \
    --listen-host "$OAUTH1_PROXY_LISTEN_HOST" --listen-port "$OAUTH1_PROXY_LISTEN_PORT" \
    --set confdir="$OAUTH1_PROXY_CONFDIR" --set oauth1_ops_listen="$OAUTH1_PROXY_OPS_LISTEN" \
    --set oauth1_helper_port=-1 "$@"
