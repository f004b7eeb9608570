"""The official FHIR R4 package (``hl7.fhir.r4.examples@4.0.1``), fetched with npm on demand.

Only the test suite and ``scripts/derive_fhir_tables.py`` need it: the server itself runs from the
derived tables committed under ``ehp/fhir/definitions``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE_NAME = "hl7.fhir.r4.examples"
PACKAGE_VERSION = "4.0.1"


def default_cache_dir() -> Path:
    """Where the unpacked package lives: ``$EHP_FHIR_CACHE`` or ``.cache/fhir`` at the project root."""
    configured = os.environ.get("EHP_FHIR_CACHE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / ".cache" / "fhir"


def examples_package_dir(cache_dir: Path | None = None) -> Path:
    """Return the folder of the unpacked package, downloading it with ``npm pack`` the first time."""
    root = cache_dir or default_cache_dir()
    target = root / f"{PACKAGE_NAME}-{PACKAGE_VERSION}"
    if (target / "package" / "package.json").exists():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch the official FHIR R4 package; install Node.js")
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "package" / "package.json").exists():
            _download(npm, root, target)
    return target / "package"


def _download(npm: str, root: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=root) as work:
        subprocess.run(
            [npm, "pack", f"{PACKAGE_NAME}@{PACKAGE_VERSION}", "--silent"],
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        archive = next(Path(work).glob("*.tgz"))
        unpacked = Path(work) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        os.replace(unpacked, target)
