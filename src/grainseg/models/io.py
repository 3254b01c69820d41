"""Model files: `save_model` writes one, `load_model` reads it back (or a Lightning checkpoint).

A model file is a plain dict ``{"format", "arch", "width", "in_channels", "state_dict", "meta"}``
of tensors, numbers and strings. Every file grainseg reads with torch (model files, Lightning
checkpoints, run folders) goes through `read_torch_file`, which never unpickles anything but
tensors and plain data: a file from elsewhere cannot run code.
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grainseg.errors import input_error
from grainseg.io.atomic import atomic_path
from grainseg.models.registry import ARCHITECTURES, build_model

FORMAT = "grainseg-model-1"
LIGHTNING_PREFIX = "model."  # the training LightningModule holds the network as ``self.model``


def _unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP/DataParallel wrapper or a ``torch.compile`` result."""
    while True:
        inner = getattr(model, "module", None)
        if inner is None:
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless ``value`` is made of types ``torch.load(weights_only=True)`` reads."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a string or int")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a model file")


def save_model(path: str | os.PathLike, model: nn.Module, meta: dict | None = None) -> Path:
    """Write ``model`` (built by `build_model`) and ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Output file, conventionally ``model.pt``; its folder must exist.
    model : nn.Module
        A network from `build_model` (DDP or compiled wrappers are unwrapped).
    meta : dict
        Plain data to keep with the weights (str, int, float, bool, None, lists, dicts,
        tensors), e.g. ``median_px``, ``patch``, ``pos_weight``.

    Returns
    -------
    Path
        ``path``.
    """
    net = _unwrap(model)
    if getattr(net, "arch", None) not in ARCHITECTURES:
        raise TypeError(f"{type(net).__name__} is not a grainseg architecture")
    meta = dict(meta or {})
    _check_plain(meta, "meta")
    payload = {
        "format": FORMAT,
        "arch": net.arch,
        "width": float(net.width),
        "in_channels": int(net.in_channels),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "meta": meta,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _resolve(path: Path) -> Path:
    """A model file, or for a run directory its ``model.pt`` (else ``checkpoints/best.ckpt``)."""
    if path.is_dir():
        for candidate in (path / "model.pt", path / "checkpoints" / "best.ckpt"):
            if candidate.is_file():
                return candidate
        raise input_error(path, "run directory holds neither model.pt nor checkpoints/best.ckpt")
    if not path.exists():
        raise input_error(path, "model file not found")
    return path


# Classes a model file or checkpoint may hold beyond torch's own weights-only list (tensors,
# storages, dtypes, OrderedDict, ...), each read as a plain dict. Lightning 2.x writes its
# hyper-parameters as a dict and every loop, callback and optimiser state as plain data; older
# Lightning wrote the hyper-parameters as an AttributeDict, a dict subclass with no state of its
# own. Naming them by string keeps Lightning out of the import of `segment`.
SAFE_CHECKPOINT_GLOBALS = [
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (dict, "lightning.pytorch.utilities.parsing.AttributeDict"),
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
]


def read_torch_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Read a ``torch.save`` file (model file or checkpoint) without running any of its code.

    Every model, checkpoint and run folder grainseg reads goes through here: tensors, numbers,
    strings, lists and dicts are rebuilt (``torch.load(weights_only=True)`` with
    `SAFE_CHECKPOINT_GLOBALS`); any other pickled object is refused before it is built.

    Parameters
    ----------
    path : path-like
        The file.
    map_location : str, torch.device or None
        Where the tensors go, as in ``torch.load``.

    Returns
    -------
    object
        What the file holds (for grainseg's files, a dict).

    Raises
    ------
    GrainsegError
        Naming the file: missing, damaged, not a ``torch.save`` file, or holding pickled
        objects other than plain data (the line names them).
    """
    path = Path(path)
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS), warnings.catch_warnings():
            # Files saved with another pickle protocol read the same; torch's note on it is
            # advice to torch users, not to ours.
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise input_error(path, "file not found") from None
    except IsADirectoryError:
        raise input_error(path, "is a folder, not a model file") from None
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise input_error(path, f"damaged, or not a model file or checkpoint ({_first_line(exc)})") from None
        needs = _unsafe_globals(path)
        raise input_error(
            path,
            f"refused: it holds pickled Python objects ({needs}) that could run code when "
            "loaded; grainseg reads only tensors and plain data from model files and "
            "checkpoints",
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError... for bad files
        raise input_error(path, f"damaged, or not a model file or checkpoint ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """First line of an exception's message (its type name when empty), at most 120 chars."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


def _unsafe_globals(path: Path) -> str:
    """The pickled classes and functions of ``path`` that `read_torch_file` refuses, by name.

    Read from the pickle's opcodes without executing them.
    """
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # an old or odd container: the refusal stands without the names
        names = []
    if not names:
        return "not plain data"
    shown = ", ".join(sorted(names)[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _spec(path: Path, obj: Any) -> tuple[str, float, int, dict, dict]:
    """(arch, width, in_channels, state_dict, meta) from a model file or a Lightning checkpoint."""
    if not isinstance(obj, dict):
        raise input_error(path, "not a grainseg model file (no dictionary inside)")
    if "arch" in obj and "state_dict" in obj:
        arch, width, in_ch = obj["arch"], obj.get("width", 1.0), obj.get("in_channels", 1)
        state, meta = obj["state_dict"], dict(obj.get("meta") or {})
    elif "state_dict" in obj and "hyper_parameters" in obj:
        hp = dict(obj["hyper_parameters"] or {})
        if "arch" not in hp:
            raise input_error(path, "checkpoint hyper-parameters do not name the architecture")
        arch, width, in_ch = hp["arch"], hp.get("width", 1.0), hp.get("in_channels", 1)
        state = {
            k[len(LIGHTNING_PREFIX) :]: v
            for k, v in obj["state_dict"].items()
            if k.startswith(LIGHTNING_PREFIX)
        }
        if not state:
            raise input_error(path, f"checkpoint holds no '{LIGHTNING_PREFIX}*' network weights")
        meta = hp
    else:
        raise input_error(path, "not a grainseg model file (no architecture and weights inside)")
    if arch not in ARCHITECTURES:
        valid = ", ".join(ARCHITECTURES)
        raise input_error(path, f"unknown architecture {arch!r} (valid: {valid})")
    if not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise input_error(path, f"bad width {width!r}")
    if isinstance(in_ch, bool) or not isinstance(in_ch, int) or in_ch < 1:
        raise input_error(path, f"bad in_channels {in_ch!r}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise input_error(path, "weights are not a dictionary of tensors")
    return arch, float(width), in_ch, state, meta


def load_model(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    expect_arch: str | None = None,
) -> tuple[nn.Module, dict]:
    """Read a model written by `save_model`, a Lightning ``.ckpt`` or a training run directory.

    Parameters
    ----------
    path : path-like
        ``model.pt``; a ``.ckpt`` whose ``hyper_parameters`` hold ``arch`` (and ``width``,
        ``in_channels``) and whose ``state_dict`` keys start with ``model.``; or a run
        directory (its ``model.pt``, else ``checkpoints/best.ckpt``).
    map_location : str or torch.device
        Where the weights go, as in ``torch.load``.
    expect_arch : str or None
        If given, a file holding another architecture is an error.

    Returns
    -------
    (nn.Module, dict)
        The network in eval mode on ``map_location``, and the stored meta (for a checkpoint,
        its hyper-parameters).

    Raises
    ------
    GrainsegError
        Naming the file: missing, unreadable or corrupt, not a grainseg model, another
        architecture than ``expect_arch``, or weights that do not fit the recorded architecture.
    """
    path = _resolve(Path(path))
    arch, width, in_ch, state, meta = _spec(path, read_torch_file(path, map_location))
    if expect_arch is not None and arch != expect_arch:
        raise input_error(path, f"holds a {arch} model, not {expect_arch}")
    model = build_model(arch, in_channels=in_ch, width=width)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        k for k in set(expected) & set(state) if expected[k].shape != state[k].shape
    )
    if missing or unexpected or wrong_shape:
        details = [
            f"{len(keys)} {what} (e.g. {keys[0]})"
            for keys, what in (
                (missing, "missing"),
                (unexpected, "unexpected"),
                (wrong_shape, "of another shape"),
            )
            if keys
        ]
        raise input_error(
            path,
            f"weights do not fit {arch} (width {width:g}, {in_ch} input channels): "
            + ", ".join(details),
        )
    model.load_state_dict(state)
    return model.to(map_location).eval(), meta
