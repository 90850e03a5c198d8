"""Promise: a provider's refusal that echoes a PLAINTEXT signature puts no secret in any output (SPEC §8, issue 12).

net.oauth reports the signature it received in ``WWW-Authenticate`` and in the body; other providers quote it in a
JSON message. ``oauth1-proxy run`` with every output on (flow_detail=4, termlog debug, proxy_debug, oauth1_debug,
``-w``, ``hardump``): stdout, the capture and the HAR hold no encoding of the secrets, while the client still gets
the provider's answer as sent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from flask import Response
from flask import request as flask_request

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, curl, profile_for, write_config

from .support import leaks, plaintext_signature_forms

SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4
STEMS = (b"e2e-consumer-secret", b"e2e-token-secret")


def received_signature() -> str:
    m = re.search(r'oauth_signature="([^"]*)"', flask_request.headers.get("Authorization", ""))
    return m.group(1) if m else ""


def net_oauth_refusal(rest: str) -> Response:
    """net.oauth's OAuthProblemException: the parameters it received, percent-encoded, in the header and body."""
    echoed = received_signature()
    response = Response(f"oauth_problem=signature_invalid&oauth_signature={echoed}"
                        "&oauth_signature_base_string=GET%26https%253A%252F%252Flocalhost\n", status=401,
                        mimetype="application/x-www-form-urlencoded")
    response.headers["WWW-Authenticate"] = (f'OAuth realm="api", oauth_problem="signature_invalid", '
                                            f'oauth_signature="{echoed}", oauth_signature_method="PLAINTEXT"')
    return response


def json_refusal(rest: str) -> Response:
    """A JSON refusal quoting the decoded signature, in its own field and inside a message."""
    decoded = unquote(received_signature())
    body = {"error": "invalid_signature", "oauth_signature": decoded,
            "message": f"expected another signature than {decoded}"}
    return Response(json.dumps(body), status=401, mimetype="application/json")


def test_refusal_echoing_the_signature_leaves_no_secret_in_stdout_capture_or_har(
    tmp_path: Path, run_proxy: Any
) -> None:
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp_path / "tls")
    provider._app.add_url_rule("/netoauth/<path:rest>", "netoauth", net_oauth_refusal)
    provider._app.add_url_rule("/jsonrefusal/<path:rest>", "jsonrefusal", json_refusal)
    flows, har = tmp_path / "capture.flows", tmp_path / "capture.har"
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {
            "plain": profile_for(provider, signature_method="PLAINTEXT"),
        })
        proxy = run_proxy(config, "-w", str(flows), "--set", f"hardump={har}", "--set", "flow_detail=4",
                          "--set", "termlog_verbosity=debug", "--set", "proxy_debug=true",
                          "--set", "oauth1_debug=true", "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        ca = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
        answers = [curl("-i", *ca, f"{provider.base_url}/{path}/x").stdout
                   for path in ("netoauth", "jsonrefusal", "netoauth")]  # the second netoauth: a kept-alive flow
        proxy.stop()  # hardump is written at shutdown

    # The client got the provider's answers as sent, echo included (it is the client's own request).
    assert all(re.search(rb"HTTP/[12.]+ 401", a) for a in answers), answers
    assert f'oauth_signature="{quote(SIGNATURE, safe="~")}"'.encode() in answers[0]
    assert json.loads(answers[1].rsplit(b"\r\n\r\n", 1)[1])["oauth_signature"] == SIGNATURE
    outputs = {"stdout (flow_detail=4, proxy_debug, termlog debug)": proxy.text().encode(),
               "-w capture": flows.read_bytes(), "hardump": har.read_bytes()}
    for name, data in outputs.items():
        assert b"oauth_problem" in data or b"signature_invalid" in data, name  # the refusals are there
        found = leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET))
        found += [stem.decode() for stem in STEMS if stem in data]
        assert found == [], (name, found)
    assert b"REDACTED" in outputs["-w capture"] and b"REDACTED" in outputs["hardump"]
    json.loads(har.read_text())  # still a valid HAR
