"""Tiled inference: tile grids, smooth blending without seams, bounded band output."""

import numpy as np
import pytest

from grainseg.infer.tiling import (
    CPU_TILE_PX,
    DEFAULT_OVERLAP_PX,
    GPU_MAX_BATCH,
    axis_tiling,
    blend_window_1d,
    choose_tiling,
    predict_tiled,
)


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "multiple"),
    [(2048, 512, 128, 32), (1536, 512, 128, 32), (954, 512, 128, 32), (10, 512, 128, 32),
     (513, 512, 0, 1), (20000, 1024, 64, 32), (700, 256, 64, 1)],
)
def test_axis_tiling_covers_with_overlap(length, tile, overlap, multiple):
    tiling = axis_tiling(length, tile, overlap, multiple)
    starts, size = tiling.starts, tiling.size_px
    assert starts[0] == 0 and starts[-1] + size == length
    assert size <= tile
    if len(starts) > 1:
        assert np.all(np.diff(starts) > 0)
        assert np.all(starts[:-1] + size - starts[1:] >= overlap)  # overlap at least as asked
        assert size % multiple == 0 or size == length
        # fewest tiles: one less could not cover the axis with that overlap
        assert (len(starts) - 1) * (tile - overlap) + overlap < length


def test_blend_window_is_positive_and_flat_in_the_middle():
    window = blend_window_1d(512, 128)
    assert window.min() > 0 and window.max() == 1.0
    assert np.all(window[128:384] == 1.0)
    assert np.allclose(window, window[::-1])
    assert np.all(np.diff(window[:128]) > 0)


@pytest.mark.parametrize("shape", [(10, 10), (1, 1), (300, 700), (513, 257)])
def test_constant_model_gives_constant_probability(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    prob = predict_tiled(image, lambda t: np.full_like(t, 0.3), tile_px=128, overlap=0.25,
                         batch=3)
    assert prob.shape == shape and prob.dtype == np.float32
    np.testing.assert_allclose(prob, 0.3, atol=1e-6)


def test_no_seams_with_position_dependent_model():
    """A model biased by position inside its tile (as CNNs are near tile borders) must not leave
    steps at tile edges: without blending the bias would jump by 0.2 at every tile start."""
    height, width = 300, 900
    yy, xx = np.mgrid[:height, :width]
    image = (0.5 + 0.2 * np.sin(xx / 70.0) * np.cos(yy / 50.0)).astype(np.float32)

    def biased(tiles):
        h, w = tiles.shape[-2:]
        ramp = np.add.outer(np.linspace(0, 0.1, h), np.linspace(0, 0.1, w)).astype(np.float32)
        return tiles + ramp

    prob = predict_tiled(image, biased, tile_px=128, overlap=0.25, batch=4)
    error = prob - image
    # blended error changes smoothly: steps between neighbouring pixels stay tiny
    assert np.abs(np.diff(error, axis=1)).max() < 0.01
    assert np.abs(np.diff(error, axis=0)).max() < 0.01
    # ... whereas the tiles themselves jump by up to 0.2 at their edges (the check can fail)
    assert error.max() - error.min() > 0.05


def test_identity_model_reproduces_input_and_band_output_matches():
    image = np.random.default_rng(1).random((333, 517)).astype(np.float32)
    prob = predict_tiled(image, lambda t: t, tile_px=96, overlap=0.3, batch=5)
    np.testing.assert_allclose(prob, image, atol=1e-5)
    bands = np.full(image.shape, -1.0, np.float32)
    calls = []

    def sink(row0, rows):
        calls.append(rows.shape[0])
        bands[row0 : row0 + rows.shape[0]] = rows

    assert predict_tiled(image, lambda t: t, 96, 0.3, 5, out=sink) is None
    np.testing.assert_array_equal(bands, prob)
    assert sum(calls) == image.shape[0] and len(calls) > 1  # rows arrive band by band
    assert max(calls) <= 96


def test_choose_tiling_cpu_defaults_and_user_values():
    plan = choose_tiling("cpu")
    assert (plan.tile_px, plan.batch) == (CPU_TILE_PX, 1)
    assert plan.overlap * plan.tile_px == DEFAULT_OVERLAP_PX
    # A 2048 x 1536 image: the default tiles spend at most 1.15 x the untiled pixels.
    overlap_px = round(plan.overlap * plan.tile_px)
    ty, tx = (axis_tiling(n, plan.tile_px, overlap_px, 16) for n in (1536, 2048))
    assert len(ty.starts) * ty.size_px * len(tx.starts) * tx.size_px / (1536 * 2048) < 1.15
    fixed = choose_tiling("cpu", tile_px=256, overlap=0.25, batch=4)
    assert (fixed.tile_px, fixed.overlap, fixed.batch) == (256, 0.25, 4)
    assert choose_tiling("cpu", tile_px=100).overlap == 0.5  # never more than half a tile


def test_choose_tiling_gpu_fills_memory_budget():
    per_px, free = 4000.0, 40 * 2**30  # 4 kB per pixel, 40 GiB free
    plan = choose_tiling("cuda", activation_bytes_per_px=per_px, free_bytes=free)
    assert 1 < plan.batch <= GPU_MAX_BATCH
    assert plan.batch * per_px * plan.tile_px**2 <= 0.5 * free
    small = choose_tiling("cuda", activation_bytes_per_px=per_px, free_bytes=2**30)
    assert small.tile_px < plan.tile_px and small.batch * per_px * small.tile_px**2 <= 2**29


def test_row_bands_join_into_the_whole_image_exactly():
    rng = np.random.default_rng(3)
    image = rng.random((300, 170)).astype(np.float32)

    def predict(tiles):  # position-dependent, so every tile's share shows
        return np.tanh(tiles * 3 + np.arange(tiles.shape[-1]) / 50.0)

    whole = predict_tiled(image, predict, 64, 0.25, 3, 16)
    joined = np.full_like(whole, np.nan)
    for band in ((0, 100), (100, 128), (128, 300)):
        predict_tiled(image, predict, 64, 0.25, 3, 16, rows=band,
                      out=lambda y0, rows: joined.__setitem__(slice(y0, y0 + len(rows)), rows))
    np.testing.assert_array_equal(joined, whole)
