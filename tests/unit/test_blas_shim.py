"""The bundle's BLAS stand-in (packaging/linux/blas_shim.c) gives numpy's results, and refuses linalg.

numpy in .venv is run twice in fresh interpreters, once with its OpenBLAS and once with the
shim preloaded (its symbols then win), over every CBLAS routine numpy calls: dot/matmul/inner/
vdot/A @ A.T (syrk) for float32/64 and complex64/128, transposed, strided, row and column major.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
import blas_shim

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or shutil.which("cc") is None
    or shutil.which("nm") is None,
    reason="Linux with a C compiler and binutils only, as the bundle build",
)

PROBE = r"""
import json, numpy as np
rng = np.random.default_rng(7)
out = []
for dt in (np.float32, np.float64, np.complex64, np.complex128):
    def m(*shape):
        a = rng.standard_normal(shape)
        if np.issubdtype(dt, np.complexfloating):
            a = a + 1j * rng.standard_normal(shape)
        return a.astype(dt)
    A, B, v, w = m(7, 5), m(5, 6), m(5), m(7)
    F = np.asfortranarray(m(6, 5))
    cases = [
        A @ B, A.T @ w, A @ v, B.T @ A.T, F @ B, F.T @ F, A @ A.T, A.T @ A,
        np.dot(v, v), np.vdot(v, v), np.inner(w, w), A[::2] @ B[:, ::2],
        m(40, 33) @ m(33, 41), np.dot(A[:, 1], A[:, 2]), np.dot(w[::-2], w[::2]),
    ]
    for c in cases:
        c = np.asarray(c).astype(np.complex128).ravel()
        out.append([c.real.tolist(), c.imag.tolist()])
print(json.dumps(out))
"""

LINALG = r"""
import numpy as np
try:
    np.linalg.solve(np.eye(3), np.ones(3))
except np.linalg.LinAlgError as exc:
    print("refused:", exc)
"""


def _run(code: str, preload: Path | None) -> subprocess.CompletedProcess[str]:
    """Run code in .venv's python, with the shim preloaded when given."""
    env = dict(os.environ)
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shim, built with the soname numpy's OpenBLAS has."""
    out = tmp_path_factory.mktemp("blas") / "libblas_shim.so"
    blas_shim.build("libscipy_openblas64_-test.so", out)
    return out


def test_the_shim_gives_openblas_results_for_every_routine_numpy_calls(shim: Path) -> None:
    import numpy as np

    want = json.loads(_run(PROBE, None).stdout)
    got = json.loads(_run(PROBE, shim).stdout)
    assert len(got) == len(want) == 60
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        gc = np.array(g[0]) + 1j * np.array(g[1])
        wc = np.array(w[0]) + 1j * np.array(w[1])
        assert gc.shape == wc.shape, i
        assert np.allclose(gc, wc, rtol=1e-4, atol=1e-4), (i, gc[:4], wc[:4])


def test_the_shim_exports_every_blas_symbol_numpy_links(shim: Path) -> None:
    import numpy as np

    core = Path(np.__file__).parent
    needed: set[str] = set()
    for ext in [*core.glob("_core/_multiarray_umath*.so"), *core.glob("linalg/_umath_linalg*.so")]:
        nm = subprocess.run(
            ["nm", "-D", "--undefined-only", str(ext)], capture_output=True, text=True
        )
        needed |= {line.split()[-1] for line in nm.stdout.splitlines() if "scipy_" in line}
    nm = subprocess.run(["nm", "-D", "--defined-only", str(shim)], capture_output=True, text=True)
    defined = {line.split()[-1] for line in nm.stdout.splitlines()}
    assert len(needed) > 50
    assert needed - defined == set()


def test_linalg_says_it_is_left_out_instead_of_answering(shim: Path) -> None:
    proc = _run(LINALG, shim)
    assert proc.stdout.startswith("refused:")
    assert "numpy.linalg (dgesv) is left out of this build" in proc.stderr
    assert _run(LINALG, None).stdout == ""  # with OpenBLAS it solves
