"""The `one_backend` marker: a slow test whose subject does not depend on the backend runs in one CI backend run.

CI runs the whole suite once per installed backend (tests/cases.py `CI_BACKENDS`). A test marked
`@pytest.mark.one_backend` (the command line, run folders, replay, docs examples: orchestration that is the same
code on every backend) runs in one of those runs only, picked from a hash of its test id, so the same test always
lands on the same backend whatever else is selected. `@pytest.mark.one_backend("tensorflow")` pins it.
`KERAS_CL_ALL_CASES=1` runs every marked test on the current backend.
"""

from __future__ import annotations

import zlib

import pytest

from tests.cases import BACKEND, CI_BACKENDS, every_case_requested


def backend_of(nodeid: str, pinned: str | None = None) -> str:
    """The backend run that takes the marked test `nodeid`."""
    if pinned is not None:
        return pinned if pinned in CI_BACKENDS else CI_BACKENDS[0]
    return CI_BACKENDS[zlib.crc32(nodeid.encode()) % len(CI_BACKENDS)]


def pytest_collection_modifyitems(config, items):
    if every_case_requested() or not CI_BACKENDS:
        return
    for item in items:
        marker = item.get_closest_marker("one_backend")
        if marker is None:
            continue
        owner = backend_of(item.nodeid, marker.args[0] if marker.args else None)
        if owner != BACKEND:
            item.add_marker(pytest.mark.skip(reason=f"runs in CI's {owner} run (KERAS_CL_ALL_CASES=1 runs it here)"))
