"""Build packaging/linux/blas_shim.c: the bundle's stand-in for numpy's OpenBLAS (the C file says why)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "linux" / "blas_shim.c"
#: numpy's OpenBLAS and the Fortran runtime only it links (left out with it)
OPENBLAS_PREFIX = "libscipy_openblas64_"
FORTRAN_RUNTIME = ("libgfortran-", "libquadmath-")


class ShimError(Exception):
    """The shim could not be built; the message says what to install."""


def build(soname: str, out: Path) -> None:
    """Compile the shim to out, with the soname numpy's extension modules ask for."""
    if shutil.which("cc") is None:
        raise ShimError("cc not found: install gcc (apt-get install gcc) to build the bundle")
    subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(out), str(SOURCE)],
        check=True,
    )
