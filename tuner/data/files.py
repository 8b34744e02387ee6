"""Where a competition's files are, as Kaggle hands them over: a directory (``train.csv``,
``test.csv``, maybe ``sample_submission.csv``, each plain or gzipped), the zip that ``kaggle
competitions download`` writes (read in place, nothing extracted), or, inside a Kaggle notebook,
the one folder of ``/kaggle/input`` that holds them."""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tuner.errors import DataError

__all__ = ["KAGGLE_INPUT", "DataFile", "DataFiles", "find_data_files", "kaggle_input"]

# A Kaggle notebook mounts each competition's files read-only under /kaggle/input/<name>, and
# starts in /kaggle/working, the folder it keeps as output: a search's results/ lands there.
KAGGLE_INPUT = Path("/kaggle/input")
STEMS = ("train", "test", "sample_submission")


@dataclass(frozen=True)
class DataFile:
    """One CSV of the competition: a file, or a member of a zip (``member``)."""

    path: Path  # the file, or the zip that holds it
    member: str | None = None

    @property
    def name(self) -> str:
        """How messages name it: its path, or the zip's path and the member (``x.zip/train.csv``),
        whose parent is what ``--data`` takes to load it again."""
        return str(self.path if self.member is None else self.path / self.member)

    def __str__(self) -> str:
        return self.name

    def exists(self) -> bool:
        return self.member is not None or self.path.is_file()

    def open_text(self) -> IO[str]:
        """The file as text (gunzipped when its name ends in .gz; a byte-order mark dropped)."""
        if self.member is None:
            raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 (the caller closes it)
        else:
            with zipfile.ZipFile(self.path) as archive:
                raw = io.BytesIO(archive.read(self.member))
        if self.name.endswith(".gz"):
            raw = gzip.GzipFile(fileobj=raw)
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


@dataclass(frozen=True)
class DataFiles:
    train: DataFile
    test: DataFile
    sample: DataFile | None = None  # sample_submission.csv, where the competition has one


def find_data_files(data: str | Path, *, test: bool = True) -> DataFiles:
    """Finds ``train.csv[.gz]``, ``test.csv[.gz]`` and ``sample_submission.csv[.gz]`` (if any) in
    a directory or a zip (plain CSV preferred). With ``test=False`` a missing test file is
    allowed (it is then ``test.csv``)."""
    data = Path(data)
    if not data.exists():
        raise DataError(f"{data}: no such file or directory")
    if data.is_dir():
        found = _in_directory(data)
    elif zipfile.is_zipfile(data):
        found = _in_zip(data)
    else:
        raise DataError(
            f"{data}: not a directory or a zip (expected one holding train.csv and test.csv)"
        )
    for stem in ("train", "test"):
        if stem not in found and not (stem == "test" and not test):
            raise DataError(f"{data}: no {stem}.csv or {stem}.csv.gz")
    missing_test = DataFile(data / "test.csv") if data.is_dir() else DataFile(data, "test.csv")
    return DataFiles(
        found["train"], found.get("test", missing_test), found.get("sample_submission")
    )


def _in_directory(folder: Path) -> dict[str, DataFile]:
    found = {}
    for stem in STEMS:
        for name in (f"{stem}.csv", f"{stem}.csv.gz"):
            if (folder / name).is_file():
                found[stem] = DataFile(folder / name)
                break
    return found


def _in_zip(path: Path) -> dict[str, DataFile]:
    """The zip's members by stem: at its top, or inside one folder (a zip of the folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read the zip ({' '.join(str(e).split())})") from None
    found = {}
    for stem in STEMS:
        for suffix in (".csv", ".csv.gz"):
            member = next((n for n in names if n.rpartition("/")[2] == stem + suffix), None)
            if member is not None and member.count("/") <= 1:
                found[stem] = DataFile(path, member)
                break
    return found


def kaggle_input(root: Path | None = None) -> Path | None:
    """Inside a Kaggle notebook, the one folder of ``/kaggle/input`` (``root``) holding
    ``train.csv`` and ``test.csv`` (at most two levels down); None outside one, or when none
    does. Raises DataError naming them when several do: ``--data`` must say which."""
    root = KAGGLE_INPUT if root is None else root
    if not root.is_dir():
        return None
    folders = sorted({p.parent for p in root.glob("*/train.csv*")} |
                     {p.parent for p in root.glob("*/*/train.csv*")})  # fmt: skip
    found = [f for f in folders if "test" in _in_directory(f)]
    if len(found) > 1:
        names = ", ".join(str(f) for f in found)
        raise DataError(f"{root}: {len(found)} competitions' data ({names}); pass --data with one")
    return found[0] if found else None
