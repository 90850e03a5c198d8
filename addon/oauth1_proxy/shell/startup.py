"""The signer's set-up (SPEC §9): its options, loading the config and the token store, the start-up lines.

Run from the signer's load, configure and running hooks (shell/signer.py),
never per request.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Sequence

from mitmproxy import ctx, exceptions
from mitmproxy.addonmanager import Loader
from mitmproxy.tools.dump import DumpMaster

from oauth1_proxy.accounts import ACCOUNT_HEADER, accounts_in, default_key
from oauth1_proxy.config import Profile, ProxyConfig, load_config
from oauth1_proxy.errors import ConfigError, TokenStoreError
from oauth1_proxy.lifetimes import describe_life
from oauth1_proxy.permissions import check_permissions, secret_files
from oauth1_proxy.policy import login_state
from oauth1_proxy.shell.logs import SIGNED_LINES, logger
from oauth1_proxy.signing import SignatureMethod
from oauth1_proxy.stores.managed import ManagedTokenStore, Snapshotting, open_config_store
from oauth1_proxy.tokens import FileTokenStore, TokenStore
from oauth1_proxy.web import HELPER_HOST

# The -s face (mitmproxy_addon.py), one level up: script mode is recognised by its path.
THIS_SCRIPT = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir, "mitmproxy_addon.py"))


def is_this_script(path: str) -> bool:
    """Tell whether a -s script is this module (script mode), not another addon that may record flows."""
    return os.path.realpath(os.path.expanduser(path)) == THIS_SCRIPT


def declare_options(loader: Loader) -> None:
    """Declare the oauth1_* options (SPEC §9)."""
    loader.add_option(
        "oauth1_sparse_dispatch",
        bool,
        True,
        "oauth1-proxy run: dispatch events only to the addons that have a hook for them (SparseDispatch); "
        "false keeps mitmproxy's own dispatch. Read once, at start; script mode (-s) always keeps "
        "mitmproxy's.",
    )
    loader.add_option(
        "oauth1_config",
        str | None,  # type: ignore[arg-type]
        None,
        "oauth1-proxy: the YAML config file naming the profiles to sign for.",
    )
    loader.add_option(
        "oauth1_helper_host",
        str,
        HELPER_HOST,
        "oauth1-proxy: the pseudo-host of the helper endpoint, reached through the proxy.",
    )
    loader.add_option(
        "oauth1_replay",
        str,
        "resign",
        "oauth1-proxy: what replayed requests get: resign (a fresh nonce, timestamp and signature) or keep "
        "(sent exactly as captured, for forensic replays).",
    )
    loader.add_option(
        "oauth1_debug",
        bool,
        False,
        "oauth1-proxy: when a provider refuses a signed request, also log our signature base string and, "
        "when the provider sent its own, where the two differ. Never a secret.",
    )
    loader.add_option(
        "oauth1_helper_port",
        int,
        0,
        "oauth1-proxy: the loopback port of the helper's direct URL, for browsers that do not use the "
        "proxy (0: a free port, printed at start; -1: none).",
    )
    loader.add_option(
        "oauth1_helper_clients",
        Sequence[str],
        ["127.0.0.0/8", "::1/128"],
        "oauth1-proxy: who may use the helper's pages through the proxy, by peer address: addresses or CIDRs "
        "(default loopback). Behind a load balancer the peer is the balancer: name its addresses.",
    )
    loader.add_option(
        "oauth1_reverse_hosts",
        Sequence[str],
        [],
        "oauth1-proxy: reverse mode answers and signs only requests whose Host names the listen address "
        "(127.0.0.1:PORT, localhost:PORT, [::1]:PORT on loopback); these names (NAME for any port, or "
        "NAME:PORT) are accepted too. Anything else gets 421 and nothing is sent (DNS rebinding).",
    )


def guard_needed(config: ProxyConfig | None) -> bool:
    """Tell whether anything may record or show a flow: then the capture guard must be in the chain (SPEC §8).

    Not needed only under mitmdump (``oauth1-proxy run`` or ``-s``) that
    saves nothing (no ``save_stream_file``, no ``hardump``), runs no other
    script, has no ``proxy_debug`` and prints at most each flow's URL
    (``flow_detail`` 1, or 0) with no PLAINTEXT profile. mitmweb and the console keep and show
    every flow: always needed there. Once installed it stays.
    """
    options = ctx.options
    if not isinstance(ctx.master, DumpMaster):
        return True
    if options.save_stream_file or ("hardump" in options and options.hardump):
        return True
    if "proxy_debug" in options and options.proxy_debug:  # raw traffic in the log: the filter needs the secrets
        return True
    if any(not is_this_script(script) for script in options.scripts):
        return True
    if options.flow_detail >= 2:
        return True
    plaintext = config is not None and any(
        p.signature_method is SignatureMethod.PLAINTEXT for p in config.profiles
    )
    return plaintext and options.flow_detail >= 1


def read_config(path: str, first: bool) -> ProxyConfig | None:
    """Load the config at ``path``; a bad one raises OptionsError naming every problem.

    Loaded with -s and ``first`` (no config yet), the problems are logged
    instead and None is returned.
    """
    try:
        config = load_config(path)
        # The buffered per-request lines are redacted with the config's secrets too (issue 17).
        SIGNED_LINES.know_secrets(s for p in config.profiles for s in (p.consumer_secret, p.token_secret) if s)
        return config
    except ConfigError as e:
        message = f"Cannot load oauth1_config {path}:\n{e}"
        scripts = ctx.options.scripts if "scripts" in ctx.options else ()
        if first and any(is_this_script(script) for script in scripts):
            # Loaded with -s: mitmproxy prints a script's exception with a
            # traceback. An error logged at start-up makes mitmdump exit
            # just the same (its ErrorCheck), with only our message.
            logger.error("oauth1-proxy: %s", message)
            return None
        raise exceptions.OptionsError(message) from None


def open_store(config: ProxyConfig, old_store: TokenStore | None) -> ManagedTokenStore:
    """The config's token store (a file or Redis: stores/managed.py), watched; the one it replaces is closed."""
    if isinstance(old_store, ManagedTokenStore):
        old_store.close()
    elif isinstance(old_store, FileTokenStore):
        old_store.unwatch()
    store = open_config_store(config)
    # The signer reads a snapshot on the event loop; a daemon thread keeps
    # it fresh (tokens.WATCH_INTERVAL), so no request stats the store or asks Redis.
    store.watch()
    return store


def describe(config: ProxyConfig, store: TokenStore | None) -> list[str]:
    """The start-up lines: helper, CA file, each profile (never a secret)."""
    modes = ", ".join(ctx.options.mode)
    ca_file = os.path.join(os.path.expanduser(ctx.options.confdir), "mitmproxy-ca-cert.pem")
    lines = [
        f"oauth1-proxy: mode {modes}; config {config.source}; token store {config.token_store}",
        f"oauth1-proxy: HTTPS clients must trust the CA file {ca_file} (curl --cacert {ca_file})",
    ]
    for p in config.profiles:
        hosts = ", ".join(str(h) for h in p.hosts)
        prefix = "" if p.path_prefix == "/" else f" path {p.path_prefix}"
        lines.append(
            f"oauth1-proxy: profile {p.name}: {hosts}{prefix}, {p.signature_method}, "
            f"placement {p.placement}, {login_state_text(p, store)}"
        )
    return lines


def login_state_text(p: Profile, store: TokenStore | None) -> str:
    """The profile's login state, in policy.login_state's words (as check and the helper say it)."""
    stored = None
    accounts = ""
    if store is not None and p.has_dance and not p.has_static_token:
        try:  # the snapshot open_store just read: no second trip to Redis per profile
            snapshot = isinstance(store, Snapshotting)
            keys = store.cached_keys() if snapshot else tuple(store.all())  # type: ignore[attr-defined]
            named = accounts_in(keys, p.name)  # SPEC §11: the accounts, by name (never a secret)
            accounts = f"; accounts {', '.join(named)}" if named else ""
            key = default_key(p.name, p.default_account, keys)
            if key is None:
                return f"{len(named)} accounts, each request names one with {ACCOUNT_HEADER}{accounts}"
            stored = store.cached(key) if isinstance(store, Snapshotting) else store.get(key)
        except TokenStoreError:
            return "token store unreadable"
    now = time.time()
    state = str(login_state(p, stored, now)) + accounts
    # SPEC §11: when the token expires and when it was renewed.
    return state if stored is None else f"{state} ({describe_life(stored, p.expires_daily, now)})"


def warn_of_permissions(config: ProxyConfig) -> None:
    """Log an ssh-like warning for each secret file (config, key, store) others may read."""
    for warning in check_permissions(secret_files(config)):
        logger.warning("oauth1-proxy: %s", warning)


def warn_if_insecure() -> None:
    """Warn, at each change, that ssl_insecure (-k) sends signed requests to unverified servers."""
    if "ssl_insecure" in ctx.options and ctx.options.ssl_insecure:
        logger.warning(
            "oauth1-proxy: ssl_insecure is set: upstream TLS certificates are NOT verified, so signed requests "
            "(and a PLAINTEXT signature's secrets) may go to an impostor. This is your explicit choice; "
            "remove --set ssl_insecure=true (-k) to verify again."
        )


_HEAP_SETTLED: list[bool] = []  # once per process: a second freeze would keep what the first left alive


def settle_heap() -> None:
    """Move what start-up made out of the cyclic garbage collector's way, once per process (issue 17).

    The modules, mitmproxy's addons and the config live as long as the
    process. ``gc.collect()`` frees start-up's garbage first, then
    ``gc.freeze()`` (Python's "permanent generation") has every later full
    collection walk only what was made since, instead of the whole heap each
    time (README, Performance: what a full collection cost a running proxy).
    Reference counting still frees a frozen object that is no longer used.
    """
    if _HEAP_SETTLED:
        return
    _HEAP_SETTLED.append(True)
    gc.collect()
    gc.freeze()
