"""The bundle's trimmed ICU data (packaging/icu_trim.py) keeps what Qt reads for an English app.

Built from .venv's PySide6 ICU into a temp dir, then preloaded into a fresh interpreter (its
`icudt73_dat` then serves Qt): collation, time-zone names, locale case mapping must give the
same answers as the full data, for English and (falling back to root) for German.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
import icu_trim

PROBE = r"""
from PySide6.QtCore import QCollator, QLocale, QTimeZone
print(QCollator(QLocale("en_US")).compare("apple", "Banana") < 0)
print(QCollator(QLocale("de_DE")).compare("\u00e4", "b") < 0)
z = QTimeZone(b"Europe/Berlin")
print(z.displayName(QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, QLocale("en_US")))
print(QLocale("tr_TR").toUpper("i"), QLocale("en_US").toUpper("stra\u00dfe"))
"""

needs_tools = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("icupkg") is None,
    reason="Linux with icu-devtools (icupkg) only, as the bundle build",
)


def test_keep_leaves_out_other_languages_converters_and_transliterations() -> None:
    kept = ["root.res", "en.res", "en_GB.res", "coll/root.res", "coll/ucadata.icu", "pool.res"]
    kept += ["res_index.res", "coll/res_index.res", "zoneinfo64.res", "brkitr/cjdict.dict"]
    kept += ["zone/en_001.res", "unames.icu", "supplementalData.res"]
    gone = [
        "de.res",
        "coll/zh.res",
        "coll/de__PHONEBOOK.res",
        "sr_Latn_BA.res",
        "ibm-912_P100-1995.cnv",
    ]
    gone += ["translit/root.res", "zone/fr.res", "coll/es_.res"]
    assert [i for i in kept if not icu_trim.keep(i)] == []
    assert [i for i in gone if icu_trim.keep(i)] == []


@needs_tools
def test_the_trimmed_library_answers_qt_like_the_full_one(tmp_path: Path) -> None:
    import PySide6

    full = Path(PySide6.__file__).parent / "Qt" / "lib" / icu_trim.SONAME
    out = tmp_path / icu_trim.SONAME
    kept, gone = icu_trim.build(full, out)
    assert gone > 3000
    assert kept > 600
    assert out.stat().st_size < full.stat().st_size / 3
    want = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    env = {**os.environ, "LD_PRELOAD": str(out)}
    got = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert "Central European Standard Time" in want.stdout
    assert got.stdout == want.stdout
    assert "Could not create collator" not in got.stderr


def test_a_library_without_icu_data_is_refused(tmp_path: Path) -> None:
    if shutil.which("readelf") is None:
        pytest.skip("binutils (readelf) only")
    with pytest.raises(icu_trim.TrimError, match="no icudt73_dat symbol"):
        icu_trim._data_of(Path(sys.executable).resolve())
