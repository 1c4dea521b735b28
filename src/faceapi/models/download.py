"""`faceapi models download`: fetch the weights with the npm client, verify them, install atomically.

The only network access faceapi ever makes is here, and only through ``npm pack`` (the ordinary npm
client and whatever registry it is configured for). ``--from PATH`` takes a folder or ``.tgz`` instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from faceapi.errors import ModelError
from faceapi.fileio import atomic_open
from faceapi.models.registry import MODELS, NPM_PACKAGE
from faceapi.models.store import check_model, model_dir

Log = Callable[[str], None]


def _pinned() -> dict[str, str]:
    return {fname: digest for spec in MODELS.values() for fname, digest in spec.files.items()}


def missing_or_bad(folder: Path) -> list[str]:
    """Names of the models whose files are absent or do not verify."""
    return [name for name in MODELS if not check_model(name, folder).verified]


def _files_from_tgz(tgz: Path, dest: Path) -> Path:
    """Unpack only the model files of an npm tarball (``package/model/...``) into dest."""
    wanted = _pinned()
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            base = os.path.basename(member.name)
            if member.isfile() and base in wanted and os.path.dirname(member.name).endswith("model"):
                src = tar.extractfile(member)
                if src is None:
                    raise ModelError(f"{tgz}: cannot read {member.name} from the package")
                with open(dest / base, "wb") as out:
                    shutil.copyfileobj(src, out)
    return dest


def _source_folder(source: Path) -> Path:
    """A folder given with --from may be the model folder itself, or an unpacked package."""
    for candidate in (source, source / "model", source / "package" / "model"):
        if (candidate / next(iter(MODELS.values())).manifest).is_file():
            return candidate
    raise ModelError(f"{source}: no face-api model files found there (looked in ., model/, package/model/)")


def _npm_pack(workdir: Path, log: Log) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            "npm is not installed; install Node.js/npm, or get the package elsewhere and run "
            f"`faceapi models download --from PATH/TO/{NPM_PACKAGE.replace('@', '').replace('/', '-')}.tgz`"
        )
    log(f"npm pack {NPM_PACKAGE} ...")
    proc = subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--pack-destination", str(workdir)],
        cwd=workdir, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise ModelError(f"npm pack {NPM_PACKAGE} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    tgzs = list(workdir.glob("*.tgz"))
    if len(tgzs) != 1:
        raise ModelError(f"npm pack {NPM_PACKAGE} produced {len(tgzs)} tarballs in {workdir}, expected 1")
    return tgzs[0]


def download_models(
    folder: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    log: Log = lambda msg: None,
) -> Path:
    """Install the seven models into the model folder, verified against the pinned SHA-256 sums.

    Args:
        folder: target folder (default: see `faceapi.models.model_dir`).
        source: a folder or ``.tgz`` the user already has; when None, ``npm pack`` fetches the package.
        log: called with progress messages.

    Returns the folder. Does nothing when every file is already there and verifies. Each file is
    written to a temporary name and renamed into place, so an interrupted run never leaves a partial file.
    """
    target = model_dir(folder)
    if not missing_or_bad(target):
        log(f"all models present and verified in {target}")
        return target
    target.mkdir(parents=True, exist_ok=True)
    pinned = _pinned()
    with tempfile.TemporaryDirectory(prefix="faceapi-dl-") as tmp:
        tmpdir = Path(tmp)
        if source is None:
            src_dir = _files_from_tgz(_npm_pack(tmpdir, log), tmpdir)
        else:
            source = Path(source).expanduser()
            if source.is_file():
                src_dir = _files_from_tgz(source, tmpdir)
            elif source.is_dir():
                src_dir = _source_folder(source)
            else:
                raise ModelError(f"--from {source}: no such file or folder")
        for fname, digest in pinned.items():
            src = src_dir / fname
            if not src.is_file():
                raise ModelError(f"{fname} is not in the package ({src_dir}); is it {NPM_PACKAGE}?")
            actual = hashlib.sha256(src.read_bytes()).hexdigest()
            if actual != digest:
                raise ModelError(f"{fname}: SHA-256 {actual} does not match the pinned {digest}; refusing it")
        for fname in pinned:
            with open(src_dir / fname, "rb") as src_file, atomic_open(target / fname) as out:
                shutil.copyfileobj(src_file, out)
            log(f"installed {fname}")
    return target
