"""What ``oauth1-proxy exec`` gives the command it runs (SPEC §13): variables and two trust files.

- ``child_environment`` (pure): the proxy variables common clients read, the
  CA variables, Java's ``JAVA_TOOL_OPTIONS``; ``NO_PROXY``/``no_proxy``
  removed, so every request (loopback included) goes through the proxy, which
  passes what no profile matches through untouched.
- ``write_trust_files``: a PEM bundle (the system CAs, the bundle the user had
  in ``SSL_CERT_FILE``, then mitmproxy's CA: TLS the proxy does not intercept
  still verifies) and the same certificates as a PKCS#12 Java trust store,
  made with ``cryptography`` (no keytool at run time). Neither holds a key:
  they are public certificates only, so the store has no password. wget
  reads no CA variable: ``WGETRC`` names a copy of the user's wgetrc with
  ``ca_certificate`` appended.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

# Every variable exec sets (the tests and the README list the same).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")
REMOVED_VARIABLES = ("NO_PROXY", "no_proxy")
# Java's default http.nonProxyHosts (localhost|127.*|[::1]|...) sends loopback destinations around the
# proxy, unsigned, and JDK 17 appends those defaults to any non-empty value; only an empty value (checked
# with ProxySelector.getDefault() on OpenJDK 17.0.15) means "no exception".
JAVA_NO_BYPASS = ""


@dataclass(frozen=True, slots=True)
class TrustFiles:
    bundle: Path  # PEM: system CAs + the user's SSL_CERT_FILE + mitmproxy's CA
    java_store: Path  # PKCS#12 trust store with the same certificates
    wgetrc: Path  # wget (GnuTLS) reads no CA variable: the user's wgetrc, then ca_certificate = bundle


def system_ca_file() -> Path | None:
    """The system CA bundle OpenSSL uses here (Debian: /etc/ssl/certs/ca-certificates.crt), else certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests (a dependency) brings certifi
        return None
    return Path(certifi.where())


def write_trust_files(directory: Path, mitmproxy_ca: Path, env: Mapping[str, str]) -> TrustFiles:
    """Write the bundle and the Java trust store into ``directory`` (a private temporary folder)."""
    sources = [p for p in (system_ca_file(),) if p is not None]
    user_bundle = env.get("SSL_CERT_FILE")
    if user_bundle and Path(user_bundle).is_file():
        sources.append(Path(user_bundle))
    sources.append(mitmproxy_ca)
    certificates: list[x509.Certificate] = []
    seen: set[bytes] = set()
    for source in sources:
        with warnings.catch_warnings():  # a system CA with a non-positive serial number: kept, as OpenSSL does
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            parsed = x509.load_pem_x509_certificates(source.read_bytes())
        for cert in parsed:
            der = cert.public_bytes(serialization.Encoding.DER)
            if der not in seen:
                seen.add(der)
                certificates.append(cert)
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    store = directory / "truststore.p12"
    store.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(c, f"ca-{i}".encode()) for i, c in enumerate(certificates)],
        serialization.NoEncryption(),
    ))
    wgetrc = directory / "wgetrc"
    own = Path(env.get("WGETRC") or Path(env.get("HOME", "/nonexistent")) / ".wgetrc")
    before = own.read_text(encoding="utf-8", errors="replace") if own.is_file() else ""
    wgetrc.write_text(f"{before.rstrip()}\nca_certificate = {bundle}\n".lstrip(), encoding="utf-8")
    return TrustFiles(bundle=bundle, java_store=store, wgetrc=wgetrc)


def child_environment(base: Mapping[str, str], *, host: str, port: int, trust: TrustFiles) -> dict[str, str]:
    """The command's environment: ``base`` with the proxy and CA variables set (SPEC §13)."""
    env = {k: v for k, v in base.items() if k not in REMOVED_VARIABLES}
    url = f"http://{host}:{port}"
    env.update(dict.fromkeys(PROXY_VARIABLES, url))
    env.update(dict.fromkeys(CA_VARIABLES, str(trust.bundle)))
    # Node 24+ (and 22.21+) read HTTP(S)_PROXY for http, https and fetch with this set; older ones ignore it.
    env["NODE_USE_ENV_PROXY"] = "1"
    env["WGETRC"] = str(trust.wgetrc)
    java = [
        f"-Dhttp.proxyHost={host}", f"-Dhttp.proxyPort={port}",
        f"-Dhttps.proxyHost={host}", f"-Dhttps.proxyPort={port}",
        f"-Dhttp.nonProxyHosts={JAVA_NO_BYPASS}",
        f"-Djavax.net.ssl.trustStore={trust.java_store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
    ]
    before = base.get("JAVA_TOOL_OPTIONS", "").strip()
    env["JAVA_TOOL_OPTIONS"] = " ".join([before, *java] if before else java)
    return env


def private_directory(prefix: str = "oauth1-proxy-exec-") -> Path:
    """A fresh folder only this user can read (mkdtemp makes it 0700)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_directory(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


__all__ = [
    "CA_VARIABLES", "PROXY_VARIABLES", "REMOVED_VARIABLES", "TrustFiles", "child_environment", "private_directory",
    "remove_directory", "system_ca_file", "write_trust_files",
]
