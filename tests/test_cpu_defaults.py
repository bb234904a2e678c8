"""kerascl's CPU defaults: set when kerascl is imported first, only where the installed backends know them, and never
over a value the user has set."""

import os
import subprocess
import sys

import pytest

from kerascl import cpu_defaults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = cpu_defaults.YNN_REDUCE_ONLY_FLAG
NEW_JAXLIB, NEW_TENSORFLOW = cpu_defaults.MIN_JAXLIB_VERSION, cpu_defaults.MIN_TENSORFLOW_VERSION


@pytest.mark.parametrize("environ,jaxlib,tensorflow,expected", [
    ({}, NEW_JAXLIB, NEW_TENSORFLOW, FLAG),
    ({}, NEW_JAXLIB, None, FLAG),                                        # JAX without TensorFlow
    ({"XLA_FLAGS": "--xla_cpu_use_onednn=true"}, NEW_JAXLIB, None, "--xla_cpu_use_onednn=true " + FLAG),
    ({}, None, NEW_TENSORFLOW, None),                                    # no jaxlib: nothing to tune
    ({}, (0, 10, 1), NEW_TENSORFLOW, None),                              # a jaxlib that may not know the flag
    ({}, (0, 4, 30), None, None),
    ({}, NEW_JAXLIB, (2, 20, 0), None),                                  # TensorFlow's XLA would stop on it
    ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="}, NEW_JAXLIB, None, None),  # the user's own value
    ({"KERASCL_XLA_CPU_DEFAULTS": "0"}, NEW_JAXLIB, None, None),          # opted out
    ({"KERASCL_XLA_CPU_DEFAULTS": "1"}, NEW_JAXLIB, None, FLAG),
])
def test_the_xla_flag_is_added_only_where_known_and_never_over_a_users_choice(environ, jaxlib, tensorflow, expected):
    assert cpu_defaults.xla_flags_with_defaults(environ, jaxlib, tensorflow) == expected


def test_apply_keeps_a_users_values_and_reads_installed_versions(monkeypatch):
    assert cpu_defaults.installed_version("a-distribution-that-is-not-installed") is None
    assert cpu_defaults.installed_version("pytest")[0] >= 7

    def no_lookup(*distributions):
        raise AssertionError(f"looked up {distributions} although the user decided XLA_FLAGS")

    with monkeypatch.context() as patch:  # a user's own choice is honoured before any package-metadata lookup
        patch.setattr(cpu_defaults, "installed_version", no_lookup)
        environ = {"TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=reduce,dot"}
        cpu_defaults.apply(environ)
        assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0",
                           "XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=reduce,dot"}
        opted_out = {"KERASCL_XLA_CPU_DEFAULTS": "0"}
        cpu_defaults.apply(opted_out)
        assert opted_out == {"KERASCL_XLA_CPU_DEFAULTS": "0", "TF_ENABLE_ONEDNN_OPTS": "1"}
    versions = {"jaxlib": NEW_JAXLIB, "tensorflow": NEW_TENSORFLOW}
    monkeypatch.setattr(cpu_defaults, "installed_version", lambda *names: versions.get(names[0]))
    fresh = {}
    cpu_defaults.apply(fresh)
    assert fresh == {"TF_ENABLE_ONEDNN_OPTS": "1", "XLA_FLAGS": FLAG}


@pytest.mark.skipif(cpu_defaults.installed_version("jaxlib") is None, reason="jax is not installed")
def test_the_installed_xla_accepts_what_kerascl_sets():
    """XLA stops the process on a flag it does not know: run JAX (and TensorFlow's XLA, when installed) in a fresh
    process after `import kerascl`, which is what a user's script does."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "KERASCL_XLA_CPU_DEFAULTS")}
    env["KERAS_BACKEND"] = "jax"
    code = ("import os, kerascl, jax, jax.numpy as jnp\n"
            "x = jnp.ones((2, 8, 8, 3))\n"
            "y = jax.jit(lambda x: jax.lax.conv_general_dilated(x, jnp.ones((3, 3, 3, 4)), (1, 1), 'SAME',"
            " dimension_numbers=('NHWC', 'HWIO', 'NHWC')).mean(axis=(0, 1, 2)))(x)\n"
            "assert y.shape == (4,), y.shape\n"
            "try:\n"
            "    import tensorflow as tf\n"
            "    tf.function(lambda a: tf.reduce_sum(a * 2.0), jit_compile=True)(tf.ones((3,))).numpy()\n"
            "except ImportError:\n"
            "    pass\n"
            "print(os.environ.get('XLA_FLAGS', ''))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    tensorflow = cpu_defaults.installed_version(*cpu_defaults.TENSORFLOW_DISTRIBUTIONS)
    expected = cpu_defaults.xla_flags_with_defaults({}, cpu_defaults.installed_version("jaxlib"), tensorflow)
    assert out.stdout.strip().splitlines()[-1] == (expected or "")
