"""Cut the tiny fixtures of this folder and of ../sem from the shared sample files (run once,
by hand).

    python tests/data/ebsd/cut_fixtures.py ../shared/data

- copper_hex_crop.ang / copper_hex_crop.osc: the first 20 rows of the hexagonal grid of
  copper_hex.ang / .osc, points with x <= 5.8 µm (30 and 29 points per row), every byte of a
  kept point as in the source (the .ang lines verbatim; the .osc header counts set to the crop).
- edax_ni_oim_crop.h5: rows 0-15, columns 0-19 of Scan_1 of edax_ni_oim.h5, its EBSD/Data
  datasets and EBSD/Header values (nColumns, nRows set to the crop; the schematic images of
  the coordinate system left out).
- ni_superalloy_crop.cpr / .crc: the .cpr with xCells=6, yCells=4, and the first 24 records of
  the .crc (the first 24 points of its first row), every byte of a kept record as in the source.
- ../sem/austenitic_steel_bse_002_crop.tif: rows 100-123, columns 100-131 of that image, with
  its FEI/Thermo Fisher metadata block (tag 34682) byte for byte.
- edge_cases/: EbsdLib's edge-case files, copied as they are, except Out_Of_Order.ang and its
  expected image Out_Of_Order_Correct.tiff, cut to rows 0-19, columns 0-39 (the kept lines in
  the file's own, out-of-scan, order).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import tifffile

HERE = Path(__file__).parent
N_ROWS, X_MAX_UM = 20, 5.8 + 1e-6


def cut_hex(source: Path) -> None:
    lines = source.with_suffix(".ang").read_text(encoding="latin-1").split("\n")
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    xy = np.array([[float(v) for v in line.split()[3:5]] for line in body])
    rows = np.unique(np.round(xy[:, 1], 4))
    keep = (np.round(xy[:, 1], 4) <= rows[N_ROWS - 1]) & (xy[:, 0] <= X_MAX_UM)
    kept_lines = [line for line, k in zip(body, keep, strict=True) if k]
    (HERE / "copper_hex_crop.ang").write_text("\n".join(header + kept_lines) + "\n",
                                              encoding="latin-1")
    raw = bytearray(source.with_suffix(".osc").read_bytes())
    n = int(np.frombuffer(bytes(raw[:32]), "<u4")[6])
    at = raw.find(bytes.fromhex("B90BEFFF02000000")) + 8
    records = np.frombuffer(bytes(raw[at + 8:at + 8 + 40 * n]), "<f4").reshape(n, 10)
    keep = (np.round(records[:, 4], 4) <= rows[N_ROWS - 1]) & (records[:, 3] <= X_MAX_UM)
    head = np.frombuffer(bytes(raw[:32]), "<u4").copy()
    head[4], head[5], head[6] = 29, N_ROWS - 1, keep.sum()
    out = bytes(head.tobytes()) + bytes(raw[32:at + 8]) + records[keep].tobytes()
    (HERE / "copper_hex_crop.osc").write_bytes(out)


def cut_oim_h5(source: Path, rows: int = 16, cols: int = 20) -> None:
    with h5py.File(source, "r") as src, h5py.File(HERE / "edax_ni_oim_crop.h5", "w") as dst:
        for key in (" Manufacturer", " Version"):
            dst[key] = src[key][()]
        n_cols = int(src["Scan_1/EBSD/Header/nColumns"][0])
        index = (np.arange(rows)[:, None] * n_cols + np.arange(cols)).ravel()
        for name, data in src["Scan_1/EBSD/Data"].items():
            dst[f"Scan_1/EBSD/Data/{name}"] = data[()][index]
        header = src["Scan_1/EBSD/Header"]
        for name, item in header.items():
            if isinstance(item, h5py.Dataset):
                dst[f"Scan_1/EBSD/Header/{name}"] = item[()]
        for name, item in header["Phase/1"].items():
            dst[f"Scan_1/EBSD/Header/Phase/1/{name}"] = item[()]
        dst["Scan_1/EBSD/Header/nColumns"][0] = cols
        dst["Scan_1/EBSD/Header/nRows"][0] = rows


def cut_cpr_crc(source: Path, rows: int = 4, cols: int = 6) -> None:
    text = source.with_suffix(".cpr").read_text(encoding="latin-1")
    text = re.sub(r"xCells=\d+", f"xCells={cols}", re.sub(r"yCells=\d+", f"yCells={rows}", text))
    (HERE / "ni_superalloy_crop.cpr").write_bytes(text.encode("latin-1"))
    record = 1 + 4 * 4 + 4 * 1 + 4  # phase byte; Euler x3, MAD; BC, BS, bands, error; RI
    crc = source.with_suffix(".crc").read_bytes()[: rows * cols * record]
    (HERE / "ni_superalloy_crop.crc").write_bytes(crc)


def cut_fei_tiff(source: Path, top: int = 100, left: int = 100, rows: int = 24,
                 cols: int = 32) -> None:
    with tifffile.TiffFile(source) as tif:
        tag = tif.pages[0].tags[34682]  # the raw text block (tifffile parses .value)
        tif.filehandle.seek(tag.valueoffset)
        fei = tif.filehandle.read(tag.count)
        image = tif.pages[0].asarray()[top:top + rows, left:left + cols]
    out = HERE.parent / "sem"
    out.mkdir(exist_ok=True)
    tifffile.imwrite(out / f"{source.stem}_crop.tif", image,
                     extratags=[(34682, "s", 0, fei, True)])


def copy_edge_cases(source: Path, rows: int = 20, cols: int = 40) -> None:
    out = HERE / "edge_cases"
    out.mkdir(exist_ok=True)
    for path in source.iterdir():
        if not path.name.startswith("Out_Of_Order"):
            shutil.copy(path, out / path.name)
    lines = (source / "Out_Of_Order.ang").read_text(encoding="latin-1").split("\n")
    header = [line for line in lines if line.startswith("#")]
    header = [f"# NCOLS_ODD: {cols}" if "NCOLS_ODD" in line else
              f"# NCOLS_EVEN: {cols}" if "NCOLS_EVEN" in line else
              f"# NROWS: {rows}" if "NROWS" in line else line for line in header]
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    xy = np.array([[float(v) for v in line.split()[3:5]] for line in body])
    keep = (xy[:, 0] < (cols - 0.5) * 0.25) & (xy[:, 1] < (rows - 0.5) * 0.25)
    kept = [line for line, k in zip(body, keep, strict=True) if k]
    (out / "Out_Of_Order.ang").write_text("\n".join(header + kept) + "\n", encoding="latin-1")
    image = tifffile.imread(source / "Out_Of_Order_Correct.tiff")
    tifffile.imwrite(out / "Out_Of_Order_Correct.tiff", image[:rows, :cols], photometric="rgb")


if __name__ == "__main__":
    folder = Path(sys.argv[1]) / "ebsd"
    cut_hex(folder / "copper_hex.ang")
    cut_oim_h5(folder / "edax_ni_oim.h5")
    cut_cpr_crc(folder / "ni_superalloy.cpr")
    cut_fei_tiff(folder.parent / "sem" / "austenitic_steel_bse_002.tif")
    copy_edge_cases(folder / "edge_cases")
