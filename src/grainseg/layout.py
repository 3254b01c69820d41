"""The names of the files every grainseg stage writes, in one place.

Each stage's output folder also holds `MANIFEST` (`grainseg.io.manifest`): the stage that wrote
it (one of `STAGES`), the grainseg version, the inputs and the settings. Readers (the report,
``dataset``, the napari reader) recognise a folder by its manifest and the files by these names.
Names for one image or specimen are a ``STEM`` or ``NAME`` followed by a suffix.
"""

from __future__ import annotations

#: Written into every stage's output folder.
MANIFEST = "manifest.json"

#: The ``stage`` a manifest may name: the sub-commands that write output folders.
STAGES = ("synth", "ebsd-grains", "labels", "review", "dataset", "train", "compare", "segment",
          "grains", "demo")

# grainseg synth: the files of specimen NAME, by role (its EBSD map is NAME_ebsd.ctf or .ang).
SYNTH_SUFFIXES = {
    "sem": "_sem.tif",
    "grains": "_truth_grains.tif",
    "boundaries": "_truth_boundaries.tif",
    "twins": "_truth_twins.tif",
    "drift": "_truth_drift.npz",
    "truth": "_truth.json",
}
SYNTH_EBSD_SUFFIX = "_ebsd"

# grainseg labels (and the labels folder `grainseg review` saves).
LABEL = "label.tif"
IGNORE = "ignore.tif"
GRAIN_IDS = "grain_ids.tif"
#: The SEM image of a labels folder made from an AZtec .h5oina map's own electron image.
LABELS_SEM = "sem.tif"
REGISTRATION = "registration.json"
OVERLAY_BEFORE = "overlay_before.png"
OVERLAY_AFTER = "overlay_after.png"
REVIEW = "review.json"
#: What a saved review keeps of the segmentation it corrected.
REVIEW_PROBABILITY = "probability.tif"
REVIEW_UNCERTAINTY = "uncertainty.tif"
#: Subfolder of a saved review with the corrected map's grain statistics.
REVIEW_GRAINS = "grains"

# grainseg ebsd-grains writes GRAIN_IDS, GRAINS_TABLE and GRAINS_SUMMARY too.
EBSD_BOUNDARIES = "boundaries.tif"

# grainseg segment: per input image STEM, by role.
SEGMENT_SUFFIXES = {
    "probability": "_probability.tif",
    "boundaries": "_boundaries.tif",
    "grain_ids": "_grain_ids.tif",
    "overlay": "_overlay.png",
}
SEGMENT_SUMMARY = "segment_summary.json"

# grainseg grains: one folder per grain map.
GRAINS_TABLE = "grains.csv"
GRAINS_SUMMARY = "summary.json"
#: Beside the per-map folders when several maps are measured.
GRAINS_SUMMARY_ALL = "summary_all.json"
GRAINS_TABLE_ALL = "grains_all.csv"
#: The figures, ``NAME_distribution.png`` for NAME in ``width``, ``aspect_ratio``, ``size``.
DISTRIBUTION_SUFFIX = "_distribution.png"

# grainseg dataset.
DATASET_INFO = "dataset.json"

# grainseg train: a run folder.
TRAIN_METRICS = "metrics.csv"
TRAIN_VERSIONS = "versions.json"

# grainseg compare.
COMPARE_TABLES = ("table2.csv", "table3.csv")

# grainseg report / demo.
REPORT = "report.html"


def synth_names(name: str, ebsd_format: str = "ctf") -> dict[str, str]:
    """File names of synthetic specimen ``name`` by role (`SYNTH_SUFFIXES` and ``"ebsd"``)."""
    names = {role: name + suffix for role, suffix in SYNTH_SUFFIXES.items()}
    names["ebsd"] = f"{name}{SYNTH_EBSD_SUFFIX}.{ebsd_format}"
    return {role: names[role] for role in ("sem", "ebsd", *list(SYNTH_SUFFIXES)[1:])}


def segment_names(stem: str, zarr: bool = False) -> dict[str, str]:
    """File names of the segmentation of input ``stem`` by role (`SEGMENT_SUFFIXES`); a zarr
    input gets OME-Zarr rasters (``.zarr`` in place of ``.tif``)."""
    return {role: stem + (suffix.replace(".tif", ".zarr") if zarr else suffix)
            for role, suffix in SEGMENT_SUFFIXES.items()}


def distribution_png(figure: str) -> str:
    """The PNG name of a ``grainseg grains`` figure (``"size"`` -> ``size_distribution.png``)."""
    return figure + DISTRIBUTION_SUFFIX
