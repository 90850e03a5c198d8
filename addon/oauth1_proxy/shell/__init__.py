"""The mitmproxy shell's parts that stand alone: each module here imports mitmproxy and nothing of ours."""
