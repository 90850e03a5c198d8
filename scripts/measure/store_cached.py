"""Cost of the token lookup per signed request (cached()): the bare file store against ManagedTokenStore.

Usage: .venv/bin/python scripts/measure/store_cached.py (best of 5 x 200 000 calls each).
"""
import tempfile
import timeit
from pathlib import Path

from cryptography.fernet import Fernet

from oauth1_proxy.stores.managed import open_token_store
from oauth1_proxy.tokens import FileTokenStore, StoredToken

d = Path(tempfile.mkdtemp())
t = StoredToken(token="t", token_secret="s")
f = FileTokenStore(d / "a.yaml"); f.put("p", t); f.refresh()
m = open_token_store(d / "b.yaml"); m.put("p", t); m.refresh()
k = open_token_store(d / "c.yaml", key=Fernet.generate_key().decode()); k.put("p", t); k.refresh()
for name, s in (("FileTokenStore.cached", f), ("ManagedTokenStore.cached (file, no key)", m),
                ("ManagedTokenStore.cached (file, key)", k)):
    n = 200000
    print(f"{name}: {min(timeit.repeat(lambda: s.cached('p'), number=n, repeat=5)) / n * 1e9:.0f} ns")
