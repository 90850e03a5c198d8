"""The mitmproxy glue's face: sign every request to a configured host, fail closed.

Loads two ways: appended last to mitmdump's chain by ``oauth1-proxy run``
(so --map-remote and --modify-* have already run when we sign), or as a
script: ``mitmdump -s addon/oauth1_proxy/mitmproxy_addon.py --set
oauth1_config=FILE``.

The shell lives in ``oauth1_proxy.shell``, one job per module: ``signer``
(the OAuth1Signer addon's hooks), ``capture`` (CaptureGuard, CaptureRestorer,
the wire substitution, the mitmweb and command redaction), ``logs`` (the log
filters and the per-request record), ``helper`` (OAuth1Helper), ``responses``
(the proxy's own answers) and ``dispatch`` (SparseDispatch). This module
re-exports the names ``oauth1-proxy run`` and the tests import from here, and
is the script mitmdump loads (``addons`` below).
"""

from __future__ import annotations

from typing import Any

from oauth1_proxy.errors import (
    ConfigError,
    MisdirectedRequest,
    ProxyError,
    SigningError,
    TokenMissingError,
    TokenStoreError,
)
from oauth1_proxy.shell.capture import (
    CaptureGuard,
    CaptureRestorer,
    _copy_message,
    _holds_a_plaintext_signature,
    _Original,
    _plaintext_texts,
    _redact_body,
    _redact_headers,
    _redact_request_message,
    _says_plaintext,
)
from oauth1_proxy.shell.dispatch import SparseDispatch, plan_for, use_sparse_dispatch
from oauth1_proxy.shell.frontends import (
    READING_COMMANDS,
    _shown,
    install_command_redaction,
    install_web_redaction,
    install_wire_substitution,
)
from oauth1_proxy.shell.helper import HELPER_THREADS, REVERSE_PREFIX_BYTES, OAuth1Helper, run_wsgi
from oauth1_proxy.shell.logs import (
    LOG_FILTER,
    QUIET_LEGACY_EVENTS,
    SIGNED_LINE,
    QuietLegacyEvents,
    SecretLogFilter,
    _signed_line_record,
    install_log_filter,
    logger,
)
from oauth1_proxy.shell.responses import SERVER_NAME, make_error_response
from oauth1_proxy.shell.signer import (
    REFUSED_HOST,
    THIS_SCRIPT,
    OAuth1Signer,
    SignedFlow,
    _is_this_script,
    _may_stream_later,
    _no_token,
    _parse_authority,
    make_nonce,
)

__all__ = [
    "HELPER_THREADS",
    "LOG_FILTER",
    "QUIET_LEGACY_EVENTS",
    "READING_COMMANDS",
    "REFUSED_HOST",
    "REVERSE_PREFIX_BYTES",
    "SERVER_NAME",
    "SIGNED_LINE",
    "THIS_SCRIPT",
    "CaptureGuard",
    "CaptureRestorer",
    "ConfigError",
    "MisdirectedRequest",
    "OAuth1Helper",
    "OAuth1Signer",
    "ProxyError",
    "QuietLegacyEvents",
    "SecretLogFilter",
    "SignedFlow",
    "SigningError",
    "SparseDispatch",
    "TokenMissingError",
    "TokenStoreError",
    "_Original",
    "_copy_message",
    "_holds_a_plaintext_signature",
    "_is_this_script",
    "_may_stream_later",
    "_no_token",
    "_parse_authority",
    "_plaintext_texts",
    "_redact_body",
    "_redact_headers",
    "_redact_request_message",
    "_says_plaintext",
    "_shown",
    "_signed_line_record",
    "addons",
    "install_command_redaction",
    "install_log_filter",
    "install_web_redaction",
    "install_wire_substitution",
    "logger",
    "make_addons",
    "make_error_response",
    "make_nonce",
    "plan_for",
    "run_wsgi",
    "use_sparse_dispatch",
]


def make_addons() -> list[Any]:
    """The addons to load: one signer, which serves the helper too (see OAuth1Signer.__init__)."""
    return [OAuth1Signer()]


addons = make_addons()
