"""Settings shared by the whole test suite."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Here, not in tests/e2e/conftest.py: tests outside tests/e2e (tests/api, tests/sync_server)
# import the e2e harness, and they may be collected first; plain asserts in the helpers get
# pytest's detailed failure messages wherever they are imported from.
pytest.register_assert_rewrite("tests.e2e._harness", "tests.e2e._pyclient", "tests.e2e._nodeclient")

# Every property test runs at least 200 examples, in CI and locally alike; a test may ask for
# more, never fewer. No deadline: CI machines have 2 busy cores and timing is not what we test.
settings.register_profile(
    "taskly",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("quick", max_examples=25, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("TASKLY_HYPOTHESIS_PROFILE", "taskly"))
