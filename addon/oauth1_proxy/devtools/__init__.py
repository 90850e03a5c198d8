"""Dev tools: the test provider, ``oauth1-proxy demo`` and ``oauth1-proxy bench``.

The proxy's runtime never imports this package (tests/test_architecture.py
checks it); only ``cli.py`` does, lazily, for the ``demo`` and ``bench`` verbs.
This package may import the runtime.
"""
