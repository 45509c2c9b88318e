"""Root pytest configuration, shared by our tests and nengo's suite run against us."""

import pytest
from nengo.rc import rc


@pytest.fixture(autouse=True)
def nengo_rc():
    """nengo's own test settings (its suite expects them; hooks don't reach it)."""
    rc.reload_rc([])
    rc["decoder_cache"]["enabled"] = "False"
    rc["exceptions"]["simplified"] = "False"
    rc["nengo.Simulator"]["fail_fast"] = "True"
    rc["progress"]["progress_bar"] = "False"
    yield
    rc.reload_rc([])
