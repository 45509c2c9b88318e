"""Running what starts Ray in a private network namespace that has only loopback.

Ray binds to the machine's network address, even for a local cluster; tests must keep
every connection on loopback. So whatever starts Ray runs in a subprocess under
``unshare -n`` with ``lo`` up, where Ray uses 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import tempfile

ENV_FLAG = "NENGO_NATIVE_PRIVATE_NET"


def inside() -> bool:
    """Whether this process already runs in such a namespace (set by its starter)."""
    return os.environ.get(ENV_FLAG) == "1"


def prefix() -> list[str] | str:
    """The command prefix that runs a command in a network namespace with only
    loopback, or the reason it cannot (to skip with)."""
    if inside():
        return []
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs `unshare` and `ip` (util-linux, iproute2) for a private network"
    if os.geteuid() != 0:
        return "needs root for `unshare -n` (a private network for Ray)"
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def environment() -> dict[str, str]:
    """The environment for the subprocess: marked as inside, Ray's files in a folder
    of its own, no usage reporting, no inherited cluster address."""
    env = dict(
        os.environ,
        **{ENV_FLAG: "1"},
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
        RAY_TMPDIR=tempfile.mkdtemp(prefix="nnray", dir="/tmp"),
    )
    env.pop("RAY_ADDRESS", None)
    return env
