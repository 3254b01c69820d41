"""segment_image on odd inputs, the real model contract, and the bounded-memory path."""

import numpy as np
import pytest
import tifffile
import torch
from test_infer_postprocess import assert_closed_thin_network

from grainseg.infer import large
from grainseg.infer.large import LazyNetworkInput, TiffBands, segment_large
from grainseg.infer.segment import fold_batch_norms, model_predictor, segment_image
from grainseg.io.tiff import read_micrograph, write_tiff
from grainseg.models import SIZE_MULTIPLE, build_model
from grainseg.preprocess import preprocess_sem


def edge_predictor(tiles):
    """A stand-in network: boundary probability from the local intensity gradient (depends on
    the tile's content near its borders, like a CNN)."""
    t = torch.from_numpy(tiles)
    gy = torch.nn.functional.pad(t[..., 1:, :] - t[..., :-1, :], (0, 0, 0, 1))
    gx = torch.nn.functional.pad(t[..., :, 1:] - t[..., :, :-1], (0, 1, 0, 0))
    return torch.clamp(15.0 * torch.sqrt(gx**2 + gy**2), 0, 1).numpy()


def cell_image(shape, n_cells, seed=0, bar_rows=0):
    """uint16 image of flat grains with distinct grey levels, noise and an optional data bar."""
    rng = np.random.default_rng(seed)
    from scipy.spatial import cKDTree

    centres = rng.uniform(0, 1, (n_cells, 2)) * np.array(shape)
    owner = cKDTree(centres).query(np.indices(shape).reshape(2, -1).T)[1].reshape(shape)
    cell_image.owner = owner
    levels = rng.permutation(np.linspace(10000, 50000, n_cells))
    image = levels[owner] + rng.normal(0, 200, shape)
    if bar_rows:
        image[-bar_rows:] = 0
        image[-bar_rows + 5 : -bar_rows + 10, 20 : 20 + shape[1] // 4] = 65535  # text
    return np.clip(image, 0, 65535).astype(np.uint16)


def test_tiny_blank_and_nan_images():
    const = lambda t: np.full_like(t, 0.2)  # noqa: E731
    for image in (np.zeros((10, 10), np.uint8), np.full((37, 5), 7, np.uint16),
                  np.full((20, 30), np.nan, np.float32)):
        result = segment_image(image, const, tile_px=512)
        assert result.probability.shape == image.shape
        assert np.isfinite(result.probability).all()
        assert result.boundaries.dtype == np.uint8 and not result.boundaries.any()
        assert np.all(result.grain_ids == 1)


def test_nan_pixels_do_not_spread():
    image = cell_image((200, 240), 12, seed=2).astype(np.float32)
    image[50:60, 70:90] = np.nan
    result = segment_image(image, edge_predictor, tile_px=128)
    assert np.isfinite(result.probability).all()
    assert_closed_thin_network(result.boundaries > 0, result.grain_ids)


def test_data_bar_is_left_out_and_network_closed():
    image = cell_image((300, 400), 20, seed=1, bar_rows=40)
    result = segment_image(image, edge_predictor, tile_px=128, overlap=0.25, batch=3)
    assert result.data_bar_row == 260
    assert result.probability.shape == result.grain_ids.shape == (260, 400)
    assert_closed_thin_network(result.boundaries > 0, result.grain_ids)
    truth = cell_image.owner[:260]
    assert abs(int(result.grain_ids.max()) - len(np.unique(truth))) <= 1


def test_real_model_contract_runs_on_odd_sizes():
    torch.manual_seed(0)
    model = build_model("unet", width=0.0625)
    image = cell_image((70, 45), 4)
    result = segment_image(image, model, tile_px=64, multiple=SIZE_MULTIPLE)
    assert result.probability.shape == (70, 45)
    assert ((result.probability >= 0) & (result.probability <= 1)).all()
    predict = model_predictor(model)
    tiles = preprocess_sem(image)[None, None, :64, :32].copy()
    np.testing.assert_allclose(predict(tiles), predict(tiles))  # eval mode: deterministic
    assert_closed_thin_network(result.boundaries > 0, result.grain_ids)


def test_lazy_input_equals_preprocess_sem(tmp_path):
    image = cell_image((300, 260), 10, seed=4)
    image[100, 100] = 65535
    path = tmp_path / "raw.tif"
    tifffile.imwrite(path, image)
    source = TiffBands.open(path)
    assert source is not None and source.shape == image.shape
    lazy = LazyNetworkInput(source, 280, median_px=3)
    expected = preprocess_sem(image[:280], 3)
    np.testing.assert_allclose(lazy[0:280, 0:260], expected, atol=1e-6)
    np.testing.assert_allclose(lazy[37:151, 90:201], expected[37:151, 90:201], atol=1e-6)


@pytest.mark.parametrize("compress", [False, True])
def test_large_path_matches_in_memory(tmp_path, compress):
    image = cell_image((420, 380), 30, seed=6, bar_rows=30)
    path = tmp_path / "mosaic.tif"
    if compress:
        write_tiff(path, image, pixel_size_um=0.05)  # zlib: read whole, not mapped
    else:
        tifffile.imwrite(path, image)
    outputs = {key: tmp_path / f"mosaic_{key}.{'png' if key == 'overlay' else 'tif'}"
               for key in ("probability", "boundaries", "grain_ids", "overlay")}
    settings = dict(tile_px=128, overlap=0.25, batch=4, threshold=0.5, min_grain_px=20)
    info = segment_large(path, edge_predictor, outputs, block_px=150, halo_px=64,
                              **settings)
    expected = segment_image(read_micrograph(path).image, edge_predictor, **settings)
    assert info["data_bar_row"] == expected.data_bar_row == 390
    assert info["pixel_size_um"] == (0.05 if compress else None)
    prob = read_micrograph(outputs["probability"])
    np.testing.assert_allclose(prob.image, expected.probability, atol=1e-5)
    assert prob.pixel_size_um == (0.05 if compress else None)
    boundaries = tifffile.imread(outputs["boundaries"])
    grain_ids = tifffile.imread(outputs["grain_ids"])
    assert boundaries.dtype == np.uint8 and grain_ids.dtype == np.uint32
    assert_closed_thin_network(boundaries > 0, grain_ids)
    assert info["n_grains"] == grain_ids.max()
    assert abs(int(grain_ids.max()) - int(expected.grain_ids.max())) <= 1
    assert np.mean((boundaries > 0) == (expected.boundaries > 0)) > 0.995
    assert outputs["overlay"].stat().st_size > 0
    assert not list(tmp_path.glob(".*part"))  # no temporary files left


def test_large_path_leaves_nothing_when_interrupted(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, cell_image((200, 200), 8))
    outputs = {key: tmp_path / f"m_{key}.tif" for key in ("probability", "boundaries",
                                                          "grain_ids", "overlay")}

    def interrupted(tiles):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segment_large(path, interrupted, outputs, tile_px=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]
    assert large.LARGE_IMAGE_PX > 2048 * 1536  # ordinary micrographs stay in memory


def test_folded_batch_norms_give_the_same_output():
    torch.manual_seed(1)
    model = build_model("unet", width=0.125).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    folded = fold_batch_norms(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original kept
    x = torch.rand(2, 1, 64, 96)
    with torch.inference_mode():
        np.testing.assert_allclose(folded(x)[-1].numpy(), model(x)[-1].numpy(), atol=1e-4)


def test_flip_averaged_is_the_mean_over_the_four_flips_and_keeps_symmetric_outputs():
    from grainseg.infer.segment import flip_averaged

    rng = np.random.default_rng(0)
    tiles = rng.uniform(size=(2, 1, 8, 12)).astype(np.float32)
    ramp = np.arange(12, dtype=np.float32)[None, None, None, :] / 12

    def lopsided(x):  # depends on position: flips change it
        return x * ramp

    out = flip_averaged(lopsided)(tiles)
    expected = tiles * (ramp + ramp[..., ::-1]) / 2
    assert np.allclose(out, expected, atol=1e-6)
    assert np.allclose(flip_averaged(lambda x: 2 * x)(tiles), 2 * tiles, atol=1e-6)
