"""Token store backends (SPEC §7, §12). The interface and the factory are in ``managed.py``.

This file stays empty of imports: config.py imports ``stores.location`` and
``stores.crypto``, and ``tokens.py`` (which ``managed.py`` imports) imports config.
"""
