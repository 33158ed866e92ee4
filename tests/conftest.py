"""Shared fixtures. Each stack's real program runs once per test session under the Azure mocks
(not as a preview: every output is known, so assertions read recorded inputs, not callbacks)."""
import copy
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools.preview import run_stack, stack_settings  # noqa: E402
from tools.recording import Recording  # noqa: E402

AZURE = "azure-native:"


@pytest.fixture(scope="session")
def dev() -> Recording:
    return run_stack("dev", stack_settings("dev"))


@pytest.fixture(scope="session")
def prod() -> Recording:
    return run_stack("prod", stack_settings("prod"))


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request) -> Recording:
    """Both stacks, for properties that hold in every tier."""
    return request.getfixturevalue(request.param)


@pytest.fixture()
def dev_settings() -> dict:
    """A fresh copy of the dev stack's settings for a test to break."""
    return copy.deepcopy(stack_settings("dev"))


@pytest.fixture()
def prod_settings() -> dict:
    return copy.deepcopy(stack_settings("prod"))
