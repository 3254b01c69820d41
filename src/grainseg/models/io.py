"""Model files: `save_model` writes one, `load_model` reads it back (or a Lightning checkpoint).

A model file is a plain dict ``{"format", "arch", "width", "in_channels", "state_dict", "meta"}``
of tensors, numbers and strings, so ``torch.load(path, weights_only=True)`` reads it without
running any pickled code.
"""

from __future__ import annotations

import math
import os
import pickle
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


def _read(path: Path, map_location: Any) -> Any:
    """``torch.load`` the file, weights only; Lightning checkpoints may need full unpickling."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure here means an unreadable file
        first = exc
    if path.suffix == ".ckpt":
        # Lightning stores hyper-parameters as pickled objects; a checkpoint is our own
        # training output, so reading it in full is acceptable.
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception:  # still unreadable: report the first error
            pass
    if isinstance(first, pickle.UnpicklingError) and "Weights only load failed" in str(first):
        raise input_error(
            path, "holds pickled Python objects, not a grainseg model file (see save_model)"
        ) from None
    reason = str(first).strip().splitlines()[0] if str(first).strip() else type(first).__name__
    raise input_error(path, f"not a readable PyTorch model file ({reason[:120]})") from None


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
    arch, width, in_ch, state, meta = _spec(path, _read(path, map_location))
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
