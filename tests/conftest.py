"""Shared test setup."""

import nengo

# The decoder cache is a file lock shared by every process on the machine; tests
# running in parallel (or other worktrees) would contend for it and print warnings.
# Decoders are cheap for the test models, so compute them every time.
nengo.rc.set("decoder_cache", "enabled", "False")
