"""oauth1-proxy: an OAuth 1.0a (RFC 5849) signing proxy, as a mitmproxy addon."""

__version__ = "0.1.0"
