"""The ``oauth1-proxy`` console script (SPEC §3).

Errors a user can cause end with a one-paragraph message and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oauth1_proxy import __version__, cli_status
from oauth1_proxy.accounts import ACCOUNT_HEADER, accounts_in, default_key, token_key
from oauth1_proxy.cli_status import status_parser
from oauth1_proxy.config import ProxyConfig, load_config
from oauth1_proxy.discovery import discover
from oauth1_proxy.errors import ProxyError
from oauth1_proxy.errors import UsageError as UsageError  # defined with every other error (issue 13)
from oauth1_proxy.lifetimes import describe_life
from oauth1_proxy.permissions import check_permissions, secret_files
from oauth1_proxy.policy import (
    PASS_AUTHORIZE_PAGE,
    LoginState,
    OutgoingRequest,
    Pass,
    Refuse,
    RequestHeaders,
    authority_matches,
    decide,
    login_state,
    wire_host,
)
from oauth1_proxy.presets import preset_notice
from oauth1_proxy.stores.managed import open_config_store
from oauth1_proxy.web import HELPER_HOST

CONFIG_HELP = ("the YAML config file (default: $OAUTH1_PROXY_CONFIG, ./oauth1-proxy.yaml, "
               "~/.config/oauth1-proxy/config.yaml, the first that exists)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauth1-proxy",
        description="An OAuth 1.0a signing proxy: requests to configured hosts leave signed.",
    )
    parser.add_argument("--version", action="version", version=f"oauth1-proxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", allow_abbrev=False, help="run the signing proxy (mitmdump options pass through)",
        usage="oauth1-proxy run [-h] [--config FILE] [mitmdump options]",
        description="Run mitmdump with the signer; every mitmdump option after --config passes through.",
    )
    run.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)

    check = sub.add_parser("check", help="validate the config and the token store",
                           description="Validate the config and the token store; print every problem; exit 0 or 1. "
                                       "Secrets are never printed.")
    check.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)

    sign = sub.add_parser("sign", help="sign one request as the proxy would and print it")
    sign.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)
    sign.add_argument("-X", "--request", dest="method", default=None, help="the method (default GET, or POST with -d)")
    sign.add_argument("-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'",
                      help="a request header (repeatable)")
    sign.add_argument("-d", "--data", dest="data", default=None,
                      help="the body, as sent (with no Content-Type given, a form body, as curl does)")
    sign.add_argument("--nonce", default=None, help="fix oauth_nonce (to reproduce a published example)")
    sign.add_argument("--timestamp", default=None, help="fix oauth_timestamp")
    sign.add_argument("--explain", action="store_true", help="also print the normalized parameters and base string")
    sign.add_argument("--show-secrets", action="store_true", help="do not mask a PLAINTEXT signature")
    sign.add_argument("url", help="the absolute URL, as sent upstream")

    login = sub.add_parser("login", help="run the token dance from a terminal and store the token")
    login.add_argument("profile", help="the profile to log in")
    login.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)
    login.add_argument("--oob", action="store_true",
                       help="send oauth_callback=oob and read the PIN (or the callback URL) from stdin")
    login.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the callback")
    login.add_argument("--no-browser", action="store_true", help="do not try to open a browser")
    login.add_argument("--account", default=None,
                       help="log in this account of the profile (SPEC §11; requests pick it with X-OAuth1-Account)")
    login.add_argument("--upstream", metavar="URL", default=None,
                       help="reach the provider through this proxy, as run --mode upstream:URL does (SPEC §11)")

    sub.add_parser("bench", add_help=False,
                   help="signer cost against oauthlib, proxy overhead against bare mitmdump (--quick, --json)")

    # Verbs with parsers of their own (SPEC §13), listed here for the help.
    sub.add_parser("exec", add_help=False, help="run a command with the proxy in front of it: exec [--config FILE] "
                   "[mitmdump options] -- CMD [ARGS]")
    status_parser(sub)
    web = sub.add_parser(
        "web", allow_abbrev=False, help="the proxy under mitmweb's UI (mitmweb options pass through)",
        usage="oauth1-proxy web [-h] [--config FILE] [mitmweb options]",
        description="Run mitmweb with the signer; every mitmweb option after --config passes through. "
                    "No view of mitmweb shows a secret.",
    )
    web.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)
    sub.add_parser("init", add_help=False, help="write a first config: init [--preset NAME] [FILE]")

    demo = sub.add_parser("demo", help="a walk-through against an embedded provider",
                          description="Start an embedded OAuth 1.0a provider and the proxy on loopback, log in, "
                                      "make a signed call, print curl lines to try, serve until Ctrl-C.")
    demo.add_argument("--once", action="store_true", help="run the walk-through, then exit (0 on success)")
    demo.add_argument("--port", type=int, default=0, help="the proxy's port (default: a free one)")
    return parser


def _load(path: str) -> ProxyConfig:
    return load_config(path)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    store = open_config_store(config)
    tokens = store.all()  # raises TokenStoreError on a corrupt store, an unreachable Redis, a wrong key
    print(f"{args.config}: OK, {len(config.profiles)} profile(s); token store {config.token_store}")
    # Secrets at rest, like ssh: a warning on stderr, not a failure. (`run` logs the same from the addon.)
    for warning in check_permissions(secret_files(config)):
        print(f"oauth1-proxy: warning: {warning}", file=sys.stderr)
    for p in config.profiles:
        hosts = ", ".join(str(h) for h in p.hosts)
        key = default_key(p.name, p.default_account, tokens)  # the account a request without the header uses
        stored = tokens.get(key or p.name)
        state = login_state(p, stored, time.time())  # what the proxy signs with (policy.py)
        shown = str(state)
        refreshable = stored is not None and bool(stored.session_handle) and p.access_token_url is not None
        flag = f" --account {p.default_account}" if p.default_account else ""
        if key is None:
            shown = (f"{len(accounts_in(tokens, p.name))} accounts and no default_account: each request names "
                     f"one with {ACCOUNT_HEADER}: NAME")
        elif state is LoginState.EXPIRED and refreshable:
            shown = f"{state} (the proxy refreshes it with its session handle at the next request)"
        elif state in (LoginState.NOT_LOGGED_IN, LoginState.EXPIRED):
            shown = f"{state} (oauth1-proxy login {p.name}{flag} --config {args.config})"
        if stored is not None and state in (LoginState.LOGGED_IN, LoginState.EXPIRED):  # SPEC §11
            shown += f"; {describe_life(stored, p.expires_daily, time.time())}"
        preset = f" (preset {p.preset})" if p.preset else ""
        print(f"  {p.name}{preset}: {hosts} {p.path_prefix} {p.signature_method} {p.placement}: {shown}")
        notice = preset_notice(p.preset, datetime.now(UTC).date()) if p.preset else None
        if notice:  # a provider retiring OAuth 1.0a or an API (presets.NOTICES)
            print(f"    note: {notice}")
        if p.has_dance and not p.has_static_token:
            for account in accounts_in(tokens, p.name):  # SPEC §11: each account, never a secret
                who = dict(tokens[token_key(p.name, account)].extra)
                name = who.get("screen_name") or who.get("user_id")
                default = " (default_account)" if account == p.default_account else ""
                print(f"    account {account}{default}: logged in" + (f" as {name}" if name else ""))
    return 0


SIGNATURE_VALUE = re.compile(r'(oauth_signature=)("[^"]*"|[^&\s]*)')


def _mask(text: str) -> str:
    """Hide every oauth_signature value (a PLAINTEXT signature is the secrets themselves)."""
    return SIGNATURE_VALUE.sub(lambda m: m.group(1) + ('"***"' if m.group(2).startswith('"') else "***"), text)


def _parse_authority(authority: str) -> tuple[str, int | None]:
    from mitmproxy.net.http import url  # the proxy's own strict parser (a Host header given with -H)

    return url.parse_authority(authority, check=True)


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign one request exactly as the proxy would (SPEC §3): the same policy.decide, this process's clock."""
    config = _load(args.config)
    from urllib.parse import urlsplit

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the URL {args.url!r} is not an absolute http(s) URL; write it as https://host/path.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UsageError(f"the URL {args.url!r} has a bad port; write it as https://host:8443/path.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers: list[tuple[str, str]] = []
    for raw in args.headers:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"the header {raw!r} is not 'Name: value'; write it as -H 'Content-Type: text/plain'.")
        headers.append((name.strip(), value.strip()))
    body = (args.data or "").encode("utf-8", "surrogateescape")
    method = (args.method or ("POST" if args.data is not None else "GET")).upper()
    if args.data is not None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))  # as curl -d does
    facts = RequestHeaders.from_fields(
        (k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape")) for k, v in headers)
    scheme, shown_host = parts.scheme, parts.hostname
    host = wire_host(shown_host)
    store = open_config_store(config)
    decision = decide(
        OutgoingRequest(
            method=method, scheme=scheme, host=host, shown_host=shown_host, port=port, target=path, headers=facts,
            host_header_matches=authority_matches(facts.host, scheme, shown_host, port, _parse_authority),
            body=body,
        ),
        config,
        tokens=store.get,
        login=lambda p: (f"http://{HELPER_HOST}/login/{p.name}",
                         f", or run: oauth1-proxy login {p.name} --config {args.config}"),
        now=int(time.time()),
        nonce=lambda: args.nonce or secrets.token_hex(16),
        timestamp=args.timestamp,
        accounts=lambda name: accounts_in(store.all(), name),
    )
    if isinstance(decision, Pass) and decision.reason == PASS_AUTHORIZE_PAGE.reason:
        raise UsageError(f"{args.url} is the provider's authorize page, which the user's browser opens; the proxy "
                         "passes it through unsigned (RFC 5849 §2.2). Sign an API URL instead.")
    if isinstance(decision, Pass):
        raise UsageError(
            f"no profile in {args.config} signs {args.url} (scheme, host, port and path_prefix are compared); "
            "the proxy would pass it through unsigned. Check the profile's hosts and path_prefix."
        )
    if isinstance(decision, Refuse):
        raise decision.error
    # The header surgery the proxy does (mitmproxy_addon.sign_flow).
    if decision.strip_profile_header:
        headers = [(k, v) for k, v in headers if k.lower() != "x-oauth1-profile"]
    if decision.strip_account_header:
        headers = [(k, v) for k, v in headers if k.lower() != ACCOUNT_HEADER.lower()]
    if decision.strip_authorization:
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
    if decision.authorization is not None:
        headers.append(("Authorization", decision.authorization))
    if decision.set_content_length:
        headers = [(k, str(len(decision.body)) if k.lower() == "content-length" else v) for k, v in headers]
    body_text = decision.body.decode("utf-8", "replace")
    lines = [f"{method} {decision.url}", *(f"{k}: {v}" for k, v in headers), "", body_text]
    text = "\n".join(lines)
    if decision.plaintext and not args.show_secrets:
        text = _mask(text)
    print(text)
    if args.explain:
        profile = decision.profile
        print()
        print("# profile:", profile.name, profile.signature_method, profile.placement)
        print("# normalized parameters (RFC 5849 §3.4.1.3.2):")
        print(decision.normalized_parameters)
        print("# signature base string (RFC 5849 §3.4.1.1):")
        print(decision.base_string)
    return 0


def _gives_listen_host(mitm_args: Sequence[str]) -> bool:
    return any(
        a == "--listen-host" or a.startswith("--listen-host=") or a.startswith("listen_host=")
        for a in mitm_args
    )


def mitmdump_arguments(config_path: str, rest: Sequence[str]) -> list[str]:
    """mitmdump's arguments for ``run``: loopback unless --listen-host is given, and our config."""
    out = list(rest)
    if not _gives_listen_host(out):
        out = ["--listen-host", "127.0.0.1", *out]
    return [*out, "--set", f"oauth1_config={Path(config_path).resolve()}"]


def cmd_run(args: argparse.Namespace, rest: list[str]) -> int:
    _load(args.config)  # fail fast, with our own message, before mitmproxy starts
    from mitmproxy.tools import cmdline
    from mitmproxy.tools import main as mitm_main
    from mitmproxy.tools.dump import DumpMaster

    from oauth1_proxy.mitmproxy_addon import make_addons
    from oauth1_proxy.shell.dispatch import use_sparse_dispatch

    class OAuth1DumpMaster(DumpMaster):
        """mitmdump with the signer appended last, after --map-remote and --modify-*.

        Its addon manager calls only the addons that have a hook for an event
        (SparseDispatch, issue 5), in mitmdump's order, unless
        ``--set oauth1_sparse_dispatch=false`` or mitmproxy's manager is not
        the one it was written against.
        """

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.addons.add(*make_addons())  # declares oauth1_sparse_dispatch before the options are parsed

        async def run(self) -> None:
            # Chosen here, once the options (command line and confdir config.yaml) are set and before any
            # event but load and configure: both go through mitmproxy's own code in either manager.
            use_sparse_dispatch(self, enabled=self.options.oauth1_sparse_dispatch)
            await super().run()

    def extra(parsed: Any) -> dict[str, Any]:
        if parsed.filter_args:
            v = " ".join(parsed.filter_args)
            return {"save_stream_filter": v, "readfile_filter": v, "dumper_filter": v}
        return {}

    sys.argv[0] = "oauth1-proxy run"
    mitm_main.run(OAuth1DumpMaster, cmdline.mitmdump, mitmdump_arguments(args.config, rest), extra)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from oauth1_proxy.devtools import demo

    return demo.main(once=args.once, port=args.port)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        if argv and argv[0] == "bench":
            from oauth1_proxy.devtools.bench import main as bench_main

            return bench_main(argv[1:])
        if argv and argv[0] == "init":
            from oauth1_proxy.cli_init import main as init_main

            return init_main(argv[1:])
        if argv and argv[0] == "exec":
            from oauth1_proxy.cli_exec import main as exec_main

            return exec_main(argv[1:])
        if argv and argv[0] in ("run", "web"):
            args, rest = parser.parse_known_args(argv)
            args.config = discover(args.config)
            # Only the arguments after "run" (or "web") that are not ours go to mitmdump (mitmweb).
            if args.command == "web":
                _load(args.config)  # fail fast, with our own message, before mitmproxy starts
                from oauth1_proxy.shell.web_ui import cmd_web

                return cmd_web(mitmdump_arguments(args.config, rest))
            return cmd_run(args, rest)
        args = parser.parse_args(argv)
        if getattr(args, "config", False) is not False:  # every verb with --config (SPEC §13: discovery)
            args.config = discover(args.config)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "sign":
            return cmd_sign(args)
        if args.command == "login":
            from oauth1_proxy.login import cmd_login

            return cmd_login(args.profile, args.config, oob=args.oob, timeout=args.timeout,
                             open_browser=not args.no_browser,
                             account=args.account, upstream=args.upstream)
        if args.command in ("status", "logout"):
            return cli_status.run(args, argv)
        if args.command == "demo":
            return cmd_demo(args)
    except ProxyError as e:
        print(f"oauth1-proxy: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
