"""``python -m oauth1_proxy.devtools.bench``: the same as ``oauth1-proxy bench``."""

import sys

from oauth1_proxy.devtools.bench import main

sys.exit(main())
