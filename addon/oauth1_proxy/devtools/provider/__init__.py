"""An embedded OAuth 1.0a provider: the demo's server and the test suite's independent oracle.

Rule 1: every signature this module accepts is verified twice, by two
implementations we did not write: oauthlib's server endpoints
(``RequestTokenEndpoint``, ``AuthorizationEndpoint``, ``AccessTokenEndpoint``,
``ResourceEndpoint``, ``SignatureOnlyEndpoint``) and Authlib's server side
(``authlib.oauth1.rfc5849``: ``OAuth1Request`` and ``signature.verify_*``).
Before either, the request must pass the strict RFC 5849 wire grammar
(``oauth1_proxy.wire_grammar``: each protocol parameter once, encoded per
§3.6, in one place; SPEC §9); a request that fails it gets 400 and the
fault named in ``oauth_problem_advice``. Nothing here imports
``oauth1_proxy.signing``, so a bug there cannot hide itself.

Rule 2: no secret (consumer secret, token secret, a PLAINTEXT signature)
appears in a record, a log line or a page. The token endpoints return the
token secrets they issue; that is their job.

Rule 3: the provider verifies what came off the wire: the scheme, the Host
header and the raw request target, never Flask's re-encoded ``request.url``.

Routes::

    GET  /                          HTML index
    GET  /public/hello              unprotected text
    POST /oauth/request_token       RFC 5849 §2.1 (GET is accepted too)
    GET  /oauth/authorize           RFC 5849 §2.2: the "Authorize <app>?" page
    POST /oauth/authorize           approve: 302 to the callback, or the PIN page for "oob"
    POST /oauth/access_token        RFC 5849 §2.3 (GET is accepted too); with lives, the Session extension's refresh
    GET  /oauth/renew_access_token  with lives (lives.py): revives an idle-inactivated token (E*TRADE)
    GET  /api/me                    {"user_id", "screen_name"}; needs token credentials
    ANY  /api/echo[/<path>]         JSON echo of the request; token or consumer-only

A refused request gets 401 (400 for a malformed one, RFC 5849 §3.2) with a
form-encoded body ``oauth_problem=...`` in the words of the OAuth Problem
Reporting extension, and a ``WWW-Authenticate: OAuth realm="..."`` header.
"""


from oauth1_proxy.devtools.provider.app import Provider
from oauth1_proxy.devtools.provider.lives import TokenLives
from oauth1_proxy.devtools.provider.model import ProviderClient, VerifiedRequest
from oauth1_proxy.devtools.provider.tls import write_tls_files

__all__ = ["Provider", "ProviderClient", "TokenLives", "VerifiedRequest", "write_tls_files"]
