"""Reading a PyTorch state dict (``.pth``) with numpy alone, without PyTorch and without running its pickles.

A ``.pth`` is a pickle. Unpickling it with :mod:`pickle` as is would let the file call anything; here a
restricted unpickler resolves exactly the few names a state dict of float and integer tensors uses
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, ``torch.{Float,Long,Int,Double}Storage``)
and refuses every other one. Both layouts PyTorch writes are read: the legacy one (PyTorch < 1.6: five
pickles, then each storage as an int64 element count followed by its raw little-endian bytes), which the
MiniFASNet weights use, and the zip one (``archive/data.pkl`` + ``archive/data/<key>``).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.errors import ModelError

#: PyTorch's legacy-format magic number and protocol version (torch/serialization.py).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass
class _Storage:
    key: str
    dtype: np.dtype[Any]
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor of a storage not read yet: resolved once every storage is."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                       *_rest: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the names of a tensor state dict; storages become `_Storage` placeholders."""

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, where: str) -> None:
        super().__init__(file)
        self.where = where
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise ModelError(f"{self.where}: refusing to load {module}.{name} (a state dict of tensors uses only "
                         f"OrderedDict, tensors and their storages)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise ModelError(f"{self.where}: unexpected persistent id {pid!r}")
        key = str(pid[2])
        found = self.storages.get(key)
        if found is None:
            found = self.storages[key] = _Storage(key, pid[1].dtype, int(pid[4]))
        return found


def _tensor(ref: _TensorRef, where: str) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise ModelError(f"{where}: storage {ref.storage.key} has no data")
    itemsize = data.dtype.itemsize
    count = int(np.prod(ref.shape)) if ref.shape else 1
    if count == 0:
        return np.zeros(ref.shape, data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    if ref.offset < 0 or last >= data.size or any(s < 0 for s in ref.stride):
        raise ModelError(f"{where}: a tensor reaches outside its storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], ref.shape, [s * itemsize for s in ref.stride])
    return np.array(view)  # a contiguous copy: nothing keeps a view into the storage


def _resolve(obj: Any, where: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise ModelError(f"{where}: not a state dict (a {type(obj).__name__})")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise ModelError(f"{where}: entry {name!r} is not a tensor")
        out[name] = _tensor(value, where)
    return out


def _read_legacy(data: bytes, where: str) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    plain = _StateDictUnpickler(f, where)  # the header pickles hold plain values only
    if plain.load() != _LEGACY_MAGIC:
        raise ModelError(f"{where}: not a PyTorch file (wrong magic number)")
    if plain.load() != _LEGACY_PROTOCOL:
        raise ModelError(f"{where}: unsupported PyTorch legacy protocol")
    sys_info = plain.load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise ModelError(f"{where}: only little-endian PyTorch files are read")
    unpickler = _StateDictUnpickler(f, where)
    obj = unpickler.load()
    keys = _StateDictUnpickler(f, where).load()
    if not isinstance(keys, list):
        raise ModelError(f"{where}: storage key list missing")
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ModelError(f"{where}: unknown storage {key!r}")
        numel = int.from_bytes(f.read(8), "little", signed=True)
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if numel != storage.numel or len(raw) != nbytes:
            raise ModelError(f"{where}: storage {key} is truncated or of the wrong size")
        storage.data = np.frombuffer(raw, storage.dtype)
    return _resolve(obj, where)


def _read_zip(path: Path, where: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ModelError(f"{where}: a zip without exactly one data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        unpickler = _StateDictUnpickler(io.BytesIO(z.read(pkl[0])), where)
        obj = unpickler.load()
        for storage in unpickler.storages.values():
            raw = z.read(f"{prefix}data/{storage.key}")
            if len(raw) != storage.numel * storage.dtype.itemsize:
                raise ModelError(f"{where}: storage {storage.key} is of the wrong size")
            storage.data = np.frombuffer(raw, storage.dtype)
    return _resolve(obj, where)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file, by name, as numpy arrays (in the file's order).

    Raises:
        ModelError: not a state dict of plain tensors (anything else in the pickle is refused, not run).
    """
    path = Path(path)
    where = str(path)
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path, where)
        return _read_legacy(path.read_bytes(), where)
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{where}: not a readable PyTorch state dict ({exc})") from exc


__all__ = ["read_state_dict"]
