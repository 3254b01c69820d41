"""One call from an SEM image and an EBSD segment map to a checked mapping."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from grainseg.errors import GrainsegError, ParameterError
from grainseg.register.global_search import possible_overlap, search_global
from grainseg.register.mapping import (
    AffineDriftMapping,
    PixelMapping,
    drift_stats_sem_px,
    nominal_mapping,
)
from grainseg.register.nonrigid import refine_mapping
from grainseg.register.points import mapping_from_points
from grainseg.register.score import (
    MIN_COVERAGE,
    MIN_GRAINS,
    MIN_OVERLAP,
    MIN_SCORE,
    SCORE_SIGMA_PX,
    alignment_score,
    smooth_valid,
)

METHODS = ("auto", "affine", "none")


@dataclass
class Registration:
    """A mapping with the evidence for it.

    Attributes
    ----------
    mapping : PixelMapping
        SEM pixel -> EBSD point.
    method : str
        "auto" (affine + drift), "affine", "none" (nominal), "points-affine" or
        "points-thin-plate".
    score_before, score_after : float
        Alignment score (`grainseg.register.score`) of the nominal and of the final mapping.
    overlap : float
        Fraction of the usable SEM area on EBSD segments under the final mapping.
    coverage : float
        ``overlap`` over the largest overlap the map's area allows (1 = as much as possible).
    drift : dict
        `drift_stats_sem_px` of the final mapping (SEM px).
    candidates : list of dict
        Global-search candidates, best first (empty without a search).
    seconds : float
        Wall time of the registration.
    grains : int
        EBSD segments (grains) in the map, whose boundaries the search and refinement match.
    """

    mapping: PixelMapping
    method: str
    score_before: float
    score_after: float
    overlap: float
    coverage: float
    drift: dict
    candidates: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    grains: int = 0

    def to_dict(self) -> dict:
        """Plain dict for ``registration.json``."""
        out = {
            "method": self.method,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "score_threshold": MIN_SCORE,
            "overlap_fraction": self.overlap,
            "coverage": self.coverage,
            "coverage_threshold": MIN_COVERAGE,
            **{k: v for k, v in self.drift.items() if k != "affine_fit"},
            "affine_sem_px_to_ebsd_points": self.drift["affine_fit"],
            "seconds": self.seconds,
        }
        if isinstance(self.mapping, AffineDriftMapping):
            out["global_affine_sem_px_to_ebsd_points"] = self.mapping.affine.tolist()
        if self.candidates:
            out["global_candidates"] = self.candidates[:8]
        return out


#: Global-search candidates refined at the coarse levels before one is chosen.
N_STARTS = 3


def _best_start(sem, valid, segments, starts, smooth, sem_px_per_point) -> AffineDriftMapping:
    """Refine the leading candidates at the coarse levels (affine) and keep the best.

    With few grains in view the coarse edge correlation can rank a wrong placement first; a
    short refinement lets each candidate reach its own optimum before they are compared (by
    score x overlap / possible overlap, as in the search).
    """
    refined = [refine_mapping(sem, valid, segments, start, drift=False, finest_px=8.0)
               for start in starts]
    return _best_ranked([*starts, *refined], smooth, valid, segments, sem_px_per_point,
                        stride=4)


def _best_ranked(mappings, smooth, valid, segments, sem_px_per_point, stride=2):
    """The mapping of highest score x overlap / possible overlap (the first among equals):
    a refinement that lost its way never replaces the mapping it started from."""
    possible = possible_overlap(valid, segments, sem_px_per_point)
    best, best_rank = mappings[0], -1.0
    for mapping in mappings:
        score, overlap = alignment_score(smooth, valid, segments, mapping, stride=stride)
        rank = score * min(1.0, overlap / possible)
        if rank > best_rank:
            best, best_rank = mapping, rank
    return best


def register_ebsd(
    sem: np.ndarray,
    valid: np.ndarray,
    segments: np.ndarray,
    sem_px_per_point: float,
    method: str = "auto",
    points: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = False,
    initial: AffineDriftMapping | None = None,
) -> Registration:
    """Register an EBSD segment map to an SEM image.

    Parameters
    ----------
    sem : (H, W) float32
        Preprocessed SEM image (`grainseg.preprocess.preprocess_sem`).
    valid : (H, W) bool
        Usable SEM pixels (above the data bar).
    segments : (R, C) int
        EBSD regions of one orientation, 0 = none (`grainseg.labels.label_source`).
    sem_px_per_point : float
        Nominal scale: EBSD step / SEM pixel size.
    method : {"auto", "affine", "none"}
        Affine + slow-axis drift, affine only, or the nominal mapping. With ``points`` given,
        "affine" fits an affine to them and anything else a thin-plate spline.
    points : (sem_xy, ebsd_uv), optional
        Control-point pairs (`grainseg.register.points.read_point_pairs`).
    progress : bool
        Show progress bars.
    initial : AffineDriftMapping, optional
        Where the files place the map (e.g. the bounding box an .h5oina records in its
        electron image): used instead of the nominal mapping for the score before and for
        ``method="none"``, and refined as the first candidate of the global search.

    Returns
    -------
    Registration
        Not yet judged: see `check_registration`.
    """
    if method not in METHODS:
        raise ParameterError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    start = time.perf_counter()
    smooth = smooth_valid(sem, valid, SCORE_SIGMA_PX)
    nominal = initial if initial is not None else nominal_mapping(sem_px_per_point)
    score_before, _ = alignment_score(smooth, valid, segments, nominal)
    candidates: list[dict] = []
    if points is not None:
        kind = "affine" if method == "affine" else "thin-plate"
        mapping = mapping_from_points(*points, kind=kind)
        used = "points-affine" if isinstance(mapping, AffineDriftMapping) else "points-thin-plate"
    elif method == "none":
        mapping, used = nominal, "none"
    else:
        starts, candidates = search_global(sem, valid, segments, sem_px_per_point)
        starts = ([initial] if initial is not None else []) + starts[:N_STARTS]
        start_mapping = _best_start(sem, valid, segments, starts, smooth, sem_px_per_point)
        refined = refine_mapping(
            sem, valid, segments, start_mapping, drift=method == "auto", progress=progress
        )
        mapping = _best_ranked([refined, start_mapping, nominal], smooth, valid, segments,
                               sem_px_per_point)
        used = method
    score_after, overlap = alignment_score(smooth, valid, segments, mapping)
    return Registration(
        mapping=mapping,
        method=used,
        score_before=score_before,
        score_after=score_after,
        overlap=overlap,
        coverage=min(1.0, overlap / max(possible_overlap(valid, segments, sem_px_per_point), 1e-9)),
        drift=drift_stats_sem_px(mapping, sem.shape),
        candidates=candidates,
        seconds=time.perf_counter() - start,
        grains=int(np.unique(segments[segments > 0]).size),
    )


def check_registration(
    registration: Registration,
    force: bool = False,
    sem_path: str | os.PathLike | None = None,
    ebsd_path: str | os.PathLike | None = None,
) -> None:
    """Refuse a registration with no overlap, or (unless ``force``) a doubtful one.

    Parameters
    ----------
    registration : Registration
        From `register_ebsd`.
    force : bool
        Accept a doubtful registration (never one with no overlap).
    sem_path, ebsd_path : path or None
        The files registered; named at the start of the message when given.

    Raises
    ------
    GrainsegError
        "no overlap" when less than `MIN_OVERLAP` of the SEM image lies on the EBSD map (even
        with ``force``); "registration failed or doubtful" when the map covers less than
        `MIN_COVERAGE` of what it could, the score is below `MIN_SCORE`, or a search placed a
        map of fewer than `MIN_GRAINS` grains.
    """
    named = [f"{kind} {path}" for kind, path in (("SEM", sem_path), ("EBSD", ebsd_path))
             if path is not None]
    files = f"{' and '.join(named)}: " if named else ""
    if registration.overlap < MIN_OVERLAP:
        raise GrainsegError(
            f"{files}no overlap between the SEM image and the EBSD map: only "
            f"{100 * registration.overlap:.0f}% of the image falls on indexed EBSD points "
            f"(need {100 * MIN_OVERLAP:.0f}%); check that both files show the same area"
        )
    if registration.method in ("auto", "affine") and registration.grains < MIN_GRAINS and not force:
        raise GrainsegError(
            f"{files}registration doubtful: the EBSD map holds only {registration.grains} "
            f"grain(s), too few to place it by their boundaries (need {MIN_GRAINS}; score "
            f"{registration.score_after:.2f}); give control points with --points, or use --force"
        )
    if registration.coverage < MIN_COVERAGE and not force:
        raise GrainsegError(
            f"{files}registration failed or doubtful: the EBSD map lands on only "
            f"{100 * registration.coverage:.0f}% of the area it could cover (need "
            f"{100 * MIN_COVERAGE:.0f}%; score {registration.score_after:.2f}); check that the "
            "files show the same area, give control points with --points, or use --force"
        )
    if registration.score_after < MIN_SCORE and not force:
        raise GrainsegError(
            f"{files}registration failed or doubtful: alignment score {registration.score_after:.2f} "
            f"is below {MIN_SCORE:.2f} (before: {registration.score_before:.2f}); check that the "
            "files show the same area, give control points with --points, or use --force"
        )
