"""``oauth1-proxy web``: the signer under mitmweb's UI (SPEC §13).

mitmweb's master with the signer appended **last** (after ``--map-remote`` and
``--modify-*``), as ``run`` does for mitmdump; every mitmweb option passes
through. The signer's CaptureGuard sees the WebMaster and makes every flow
mitmweb serves (the flow list, each message's content and views, exports,
``/flows/dump``, HAR) a redacted copy (shell/capture.py). SparseDispatch is
not used here: mitmweb's UI is not the fast path, and its manager is kept as
mitmproxy ships it. mitmweb listens on 127.0.0.1 (``web_host``) with its own
random token unless ``web_password`` is set.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def cmd_web(mitmweb_arguments: Sequence[str]) -> int:
    """Run mitmweb with the signer; ``mitmweb_arguments`` already hold the loopback default and our config."""
    from mitmproxy.tools import cmdline
    from mitmproxy.tools import main as mitm_main
    from mitmproxy.tools.web.master import WebMaster

    from oauth1_proxy.mitmproxy_addon import make_addons

    class OAuth1WebMaster(WebMaster):
        """mitmweb with the signer appended last."""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.addons.add(*make_addons())

    sys.argv[0] = "oauth1-proxy web"
    mitm_main.run(OAuth1WebMaster, cmdline.mitmweb, list(mitmweb_arguments))
    return 0
