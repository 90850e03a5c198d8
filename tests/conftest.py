"""Shared test set-up.

Hypothesis profiles: "fast" (the default) for every run, "deep" for a long
search, chosen with the environment variable HYPOTHESIS_PROFILE:

    HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/test_signing.py
"""

import os

from hypothesis import settings

# deadline=None: RSA signing and oauthlib's PEM parsing make single examples
# slow on a loaded machine; a deadline would only add flaky failures.
settings.register_profile("fast", max_examples=100, deadline=None)
settings.register_profile("deep", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
