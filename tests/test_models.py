"""The five architectures: parameter counts, output contract, training step, files, FLOPs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grainseg.errors import GrainsegError
from grainseg.models import (
    ARCHITECTURES,
    PAPER_PARAMETERS_M,
    SIZE_MULTIPLE,
    build_model,
    count_flops,
    count_parameters,
    load_model,
    save_model,
)
from grainseg.models.layers import pad_to_multiple

NAMES = list(ARCHITECTURES)
SIDE_OUTPUTS = {"unet": 1, "defectsegnet": 1, "hed": 6, "rcf": 6, "deepcrack": 6}
FIRST_CONV_CHANNELS = {"unet": 64, "defectsegnet": 4, "hed": 64, "rcf": 64, "deepcrack": 64}
SMALL = 0.125


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_paper(name):
    count = count_parameters(build_model(name, in_channels=1, width=1.0, seed=0))
    paper = PAPER_PARAMETERS_M[name] * 1e6
    assert abs(count - paper) / paper < 0.005, f"{name}: {count} vs paper {paper:.0f}"


@pytest.mark.parametrize("name", NAMES)
def test_width_scales_channels(name):
    full = count_parameters(build_model(name, width=1.0, seed=0))
    quarter = build_model(name, width=0.25, seed=0)
    first = next(m for m in quarter.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1
    assert first.out_channels == FIRST_CONV_CHANNELS[name] // 4
    # Convolutions dominate: about width**2 of the parameters remain.
    assert count_parameters(quarter) < full / 10
    assert quarter.width == 0.25 and quarter.arch == name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 1, 100, 75), (1, 1, 64, 64), (1, 1, 7, 13)])
def test_forward_returns_list_at_input_size(name, shape):
    model = build_model(name, width=SMALL, seed=0).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, list) and len(out) == SIDE_OUTPUTS[name]
    for logits in out:
        assert logits.shape == (shape[0], 1, *shape[2:])
        assert logits.dtype == torch.float32
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", NAMES)
def test_multi_channel_input(name):
    model = build_model(name, in_channels=3, width=SMALL, seed=0).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 40, 36))
    assert out[-1].shape == (1, 1, 40, 36)


def test_pad_to_multiple():
    x = torch.rand(1, 1, 64, 96)
    assert pad_to_multiple(x, 32) is x
    y = pad_to_multiple(x[..., :50, :70], 32)
    assert y.shape == (1, 1, 64, 96)
    torch.testing.assert_close(y[..., :50, :70], x[..., :50, :70])
    torch.testing.assert_close(y[..., 63, :70], x[..., 49, :70])  # last row replicated
    torch.testing.assert_close(y[..., :50, 95], x[..., :50, 69])  # last column replicated


@pytest.mark.parametrize("name", NAMES)
def test_odd_size_output_is_the_top_left_crop_of_the_padded_run(name):
    model = build_model(name, width=SMALL, seed=0).eval()
    x = torch.rand(1, 1, 41, 53, generator=torch.Generator().manual_seed(2))
    padded = pad_to_multiple(x, model.size_multiple)
    assert padded.shape[-2] % model.size_multiple == 0 and SIZE_MULTIPLE % model.size_multiple == 0
    with torch.no_grad():
        out = model(x)
        ref = model(padded)
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b[..., :41, :53])


def _stripes(n: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of grains with intensity steps and their boundary masks (boundary = 1)."""
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(n, 1, size, size)
    y = torch.zeros(n, 1, size, size)
    for i in range(n):
        cut = int(torch.randint(8, size - 8, (1,), generator=g))
        x[i, 0, :, :cut] = 0.2
        x[i, 0, :, cut:] = 0.8
        y[i, 0, :, cut - 1 : cut + 1] = 1.0
    return x + 0.02 * torch.randn(x.shape, generator=g), y


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_few_adam_steps_learn_the_boundaries(name):
    model = build_model(name, width=0.25, seed=0).train()
    x, y = _stripes()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        out = model(x)
        loss = sum(
            F.binary_cross_entropy_with_logits(o, y, pos_weight=torch.tensor(9.0)) for o in out
        ) / len(out)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0
    assert losses[-1] < 0.8 * losses[0], losses
    prob = torch.sigmoid(out[-1].detach())
    assert prob[y == 1].mean() > prob[y == 0].mean() + 0.1


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast(name):
    model = build_model(name, width=SMALL, seed=0)
    x = torch.rand(2, 1, 48, 40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = sum(F.binary_cross_entropy_with_logits(o.float(), torch.zeros_like(x)) for o in out)
    loss.backward()
    assert out[-1].shape == (2, 1, 48, 40)
    assert all(torch.isfinite(o.float()).all() for o in out)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_seeded_init_is_deterministic_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a = build_model("hed", width=SMALL, seed=7).state_dict()
    b = build_model("hed", width=SMALL, seed=7).state_dict()
    c = build_model("hed", width=SMALL, seed=8).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(GrainsegError, match="unknown architecture 'vgg'.*unet.*deepcrack"):
        build_model("vgg")


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"width": -1.0}, {"in_channels": 0}])
def test_bad_build_arguments(kwargs):
    with pytest.raises(GrainsegError):
        build_model("unet", **kwargs)


# --- files -----------------------------------------------------------------------------------


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(tmp_path, name):
    model = build_model(name, width=SMALL, seed=0)
    meta = {"median_px": 3, "patch": 128, "pos_weight": 9.0, "history": [0.5, 0.4], "note": None}
    path = save_model(tmp_path / "model.pt", model, meta)
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # no temporary left behind
    raw = torch.load(path, weights_only=True)
    assert raw["arch"] == name and raw["width"] == SMALL and raw["in_channels"] == 1
    loaded, loaded_meta = load_model(path)
    assert loaded_meta == meta
    assert not loaded.training
    x = torch.rand(1, 1, 40, 52)
    for a, b in zip(_outputs(model, x), _outputs(loaded, x), strict=True):
        torch.testing.assert_close(a, b)


def test_save_rejects_meta_that_weights_only_load_cannot_read(tmp_path):
    with pytest.raises(TypeError, match="Path"):
        save_model(tmp_path / "m.pt", build_model("unet", width=SMALL), {"data": Path("x")})
    assert list(tmp_path.iterdir()) == []


def test_load_run_directory_prefers_model_pt(tmp_path):
    save_model(tmp_path / "model.pt", build_model("rcf", width=SMALL, seed=0), {"patch": 64})
    model, meta = load_model(tmp_path)
    assert model.arch == "rcf" and meta == {"patch": 64}


def _lightning_like(tmp_path: Path, name: str, extra_hparams: dict) -> tuple[Path, nn.Module]:
    model = build_model(name, width=SMALL, seed=1)
    ckpt = {
        "epoch": 3,
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"arch": name, "width": SMALL, "in_channels": 1, **extra_hparams},
        "optimizer_states": [],
    }
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    path = run / "checkpoints" / "best.ckpt"
    torch.save(ckpt, path)
    return path, model


def test_load_lightning_checkpoint_and_run_dir_without_model_pt(tmp_path):
    path, model = _lightning_like(tmp_path, "deepcrack", {"lr": 3e-4})
    loaded, meta = load_model(path)
    assert meta["lr"] == 3e-4 and loaded.arch == "deepcrack"
    x = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(_outputs(model, x)[-1], _outputs(loaded, x)[-1])
    loaded_from_run, _ = load_model(tmp_path / "run")
    torch.testing.assert_close(_outputs(model, x)[-1], _outputs(loaded_from_run, x)[-1])


def test_checkpoint_with_pickled_hyperparameters_is_refused(tmp_path):
    """Only plain data is read back: an object in the hyper-parameters is named and refused."""
    path, _ = _lightning_like(tmp_path, "unet", {"data": Path("/some/ds")})
    with pytest.raises(GrainsegError, match=r"best\.ckpt: refused: .*pathlib\.PosixPath"):
        load_model(path)


def test_load_errors_name_the_file(tmp_path):
    good = save_model(tmp_path / "good.pt", build_model("hed", width=SMALL, seed=0), {})
    cases = {}
    cases["missing"] = (tmp_path / "nope.pt", "not found")
    (tmp_path / "text.pt").write_text("hello, not a model\n")
    cases["text"] = (tmp_path / "text.pt", "damaged, or not a model file or checkpoint")
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "cut.pt", "damaged, or not a model file or checkpoint")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    cases["other dict"] = (tmp_path / "other.pt", "not a grainseg model file")
    torch.save(build_model("unet", width=SMALL), tmp_path / "pickled.pt")  # a whole module
    cases["pickled module"] = (tmp_path / "pickled.pt", "holds pickled Python objects")
    (tmp_path / "empty_run").mkdir()
    cases["empty run"] = (tmp_path / "empty_run", "neither model.pt nor")
    for label, (path, message) in cases.items():
        with pytest.raises(GrainsegError) as info:
            load_model(path)
        assert str(path) in str(info.value) and message in str(info.value), label


def test_weights_of_another_architecture_are_refused(tmp_path):
    unet = build_model("unet", width=SMALL, seed=0)
    payload = torch.load(save_model(tmp_path / "u.pt", unet, {}), weights_only=True)
    payload["arch"] = "hed"  # a file that claims HED but holds U-Net weights
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(GrainsegError, match=r"mixed\.pt: weights do not fit hed"):
        load_model(tmp_path / "mixed.pt")
    payload["arch"], payload["width"] = "unet", 0.25  # right architecture, wrong width
    torch.save(payload, tmp_path / "wide.pt")
    with pytest.raises(GrainsegError, match="of another shape"):
        load_model(tmp_path / "wide.pt")
    with pytest.raises(GrainsegError, match=r"u\.pt: holds a unet model, not rcf"):
        load_model(tmp_path / "u.pt", expect_arch="rcf")


# --- FLOPs -----------------------------------------------------------------------------------


def test_count_flops_convention_and_scaling():
    conv = nn.Conv2d(1, 4, 3, padding=1)
    assert count_flops(conv, (1, 1, 8, 8)) == 2 * 1 * 4 * 9 * 8 * 8  # a multiply-add = 2 FLOPs
    model = build_model("unet", width=SMALL, seed=0)
    small = count_flops(model, (1, 1, 64, 64))
    big = count_flops(model, (1, 1, 128, 128))
    assert small > 0 and big == 4 * small
