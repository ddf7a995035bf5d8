"""A smaller ICU data library for the bundle: Qt's ICU data without what an English app never reads.

PySide6's `libicudata.so.73` (31 MB) is one symbol, `icudt73_dat`, holding ICU's data package.
Qt reads collation, time-zone and currency names, break rules and character data from it; the
app is English only and decodes nothing but UTF-8/Latin-1 (ICU's built-in converters). So the
bundle carries a rebuilt library with the same soname and symbol whose package keeps every
item except: locale resources of languages other than English (`de.res`, `coll/zh.res`, ...;
`root`, `en`, `en_*` and the supplemental tables stay, so any locale falls back to root),
legacy-charset converter tables (`*.cnv`) and transliteration rules (`translit/`, no `utrans_*`
use in Qt). Built with ICU's own `icupkg` (apt: icu-devtools) and the C compiler.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

#: The soname and data symbol of PySide6's ICU (its version is in both).
SONAME = "libicudata.so.73"
SYMBOL = "icudt73_dat"
#: A locale's resource: de, de_, de__PHONEBOOK, sr_Latn_BA (res_index is the one other name so shaped).
_LOCALE = re.compile(r"[a-z]{2,3}(_.*)?")
_NOT_LOCALE = frozenset({"res_index"})


class TrimError(Exception):
    """The trimmed ICU library could not be built; the message says what to install or fix."""


def keep(item: str) -> bool:
    """True for an item of the ICU package the bundle keeps (see the module docstring)."""
    folder, _, base = item.rpartition("/")
    stem, _, ext = base.rpartition(".")
    if ext == "cnv" or folder == "translit":
        return False
    if ext == "res" and _LOCALE.fullmatch(stem) and stem not in _NOT_LOCALE:
        return stem == "en" or stem.startswith("en_")
    return True


def _data_of(library: Path) -> bytes:
    """The bytes of the `icudt73_dat` symbol in library (its file offset from readelf)."""
    out = subprocess.run(
        ["readelf", "-W", "--dyn-syms", "-S", str(library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sym = re.search(
        rf"\s([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s+GLOBAL\s+\S+\s+\d+\s+{SYMBOL}", out
    )
    if sym is None:
        raise TrimError(f"{library} has no {SYMBOL} symbol: not PySide6's ICU 73 data library")
    address, size = int(sym.group(1), 16), int(sym.group(2), 0)
    section = re.search(r"\]\s+\.rodata\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)", out)
    if section is None:
        raise TrimError(f"{library} has no .rodata section")
    offset = address - int(section.group(1), 16) + int(section.group(2), 16)
    return library.read_bytes()[offset : offset + size]


def build(library: Path, out: Path) -> tuple[int, int]:
    """Write the trimmed copy of library to out; return (items kept, items left out)."""
    missing = [tool for tool in ("icupkg", "cc", "readelf") if shutil.which(tool) is None]
    if missing:
        raise TrimError(
            f"{', '.join(missing)} not found: install icu-devtools, gcc and binutils "
            "(apt-get install icu-devtools gcc binutils) to build the bundle"
        )
    with tempfile.TemporaryDirectory(prefix="erigolem-icu-") as tmp:
        work = Path(tmp)
        full = work / "icudt73l.dat"
        full.write_bytes(_data_of(library))
        listing = subprocess.run(
            ["icupkg", "-l", str(full)], capture_output=True, text=True, check=True
        ).stdout.split()
        gone = [item for item in listing if not keep(item)]
        (work / "remove.txt").write_text("".join(f"{item}\n" for item in gone))
        (work / "out").mkdir()
        small = work / "out" / full.name  # icupkg names the items after the output file's stem
        proc = subprocess.run(
            ["icupkg", "-r", str(work / "remove.txt"), str(full), str(small)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or proc.stderr.strip():
            raise TrimError(f"icupkg refused the trimmed package: {proc.stderr.strip()[-800:]}")
        asm = work / "icudata.S"
        asm.write_text(
            f".section .rodata\n.globl {SYMBOL}\n.type {SYMBOL}, @object\n.balign 16\n{SYMBOL}:\n"
            f'.incbin "{small}"\n.size {SYMBOL}, .-{SYMBOL}\n'
            '.section .note.GNU-stack,"",@progbits\n'
        )
        subprocess.run(
            ["cc", "-shared", "-nostdlib", f"-Wl,-soname,{SONAME}", "-o", str(out), str(asm)],
            check=True,
        )
    return len(listing) - len(gone), len(gone)
