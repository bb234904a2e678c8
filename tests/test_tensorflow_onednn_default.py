"""kerascl turns TensorFlow's oneDNN CPU kernels on when imported first, and leaves a user's own choice alone."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env_after_import(value):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = value
    code = "import os, kerascl; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return out.stdout.strip()


@pytest.mark.parametrize("value,expected", [(None, "1"), ("0", "0"), ("1", "1")])
def test_import_sets_the_default_and_keeps_a_users_choice(value, expected):
    assert _env_after_import(value) == expected
