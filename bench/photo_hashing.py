"""Photo hashing: what a camera photo costs the rules' first check of a submission.

The throughput benchmark's photos are 160 x 120 (a round of 50,000 submissions with three
camera-sized photos each would not fit on the disk), so this measures the difference hash
(server/validation/photos.py) of photos of the sizes phones send, made here with the
detail and noise of a real photo (JPEG's cost is in its entropy, not its pixel count):

  1600   1600 x 1200 at quality 80: what Collect sends for `max-pixels=1600`, which every
         photo question of forms/verval_ruta.xlsx sets
  4000   4000 x 3000 at quality 90: a 12 MP camera photo, sent as taken (no max-pixels)

Reported per size: file size, milliseconds per photo hashed one after another, and per
photo in the checks' hashing processes (hashing.HASH_PROCESSES of them, as a group of checks
hashes its new photos), and what that adds to a check with three house photos.

    python bench/photo_hashing.py [--photos 24]

Results are appended to bench/results/photo_hashing-local.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from fieldwork import record
from PIL import Image, ImageFilter

from server.validation import hashing
from server.validation.photos import dhash

SIZES = {"1600": ((1600, 1200), 80), "4000": ((4000, 3000), 90)}


def photo(path: Path, size: tuple[int, int], quality: int, seed: int) -> None:
    """A photo-like JPEG: random shapes at a coarse scale, blurred, plus sensor noise."""
    rng = random.Random(seed)
    coarse = Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3))
    image = coarse.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3))
    noise = Image.effect_noise(size, 24).convert("RGB")
    Image.blend(image, noise, 0.2).save(path, "JPEG", quality=quality)


def timed(paths: list[Path], pooled: bool) -> float:
    """Seconds per photo, the median of three passes."""
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        if pooled:
            hashing.collect(hashing.start({str(path): path for path in paths}))
        else:
            for path in paths:
                dhash(path)
        passes.append((time.perf_counter() - started) / len(paths))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    args = parser.parse_args()
    figures: dict[str, object] = {"processes": hashing.HASH_PROCESSES, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as work:
        for name, (size, quality) in SIZES.items():
            paths = []
            for i in range(args.photos):
                path = Path(work) / f"{name}-{i}.jpg"
                photo(path, size, quality, i)
                paths.append(path)
            serial, pooled = timed(paths, False), timed(paths, True)
            kb = statistics.fmean(p.stat().st_size for p in paths) / 1024
            figures[name] = {
                "size": f"{size[0]}x{size[1]}",
                "quality": quality,
                "mean_kb": round(kb),
                "ms_per_photo": round(serial * 1000, 2),
                "ms_per_photo_pooled": round(pooled * 1000, 2),
                "ms_per_check_of_3": round(3 * pooled * 1000, 1),
            }
            print(
                f"{name}: {size[0]}x{size[1]} q{quality}, {kb:.0f} KB: {serial * 1000:.1f} ms "
                f"per photo, {pooled * 1000:.1f} ms in {hashing.HASH_PROCESSES} processes; a check "
                f"with three new photos +{3 * pooled * 1000:.0f} ms",
                flush=True,
            )
    record("photo_hashing", "local", figures)


if __name__ == "__main__":
    main()
