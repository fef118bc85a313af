"""Perceptual hashes of submitted photos (a 64-bit difference hash, "dHash").

The photo is reduced to 9×8 grey pixels and each bit says whether a pixel is brighter than
its right neighbour, so the same picture re-saved, resized or slightly recompressed keeps
nearly the same bits while different pictures differ in about half of them. Files are read
with Pillow's decompression-bomb limit lowered to what a phone camera makes.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# A 48-megapixel phone photo is 48 M pixels; anything far beyond is refused unread.
MAX_PIXELS = 100_000_000
# Multi-index hashing: hashes within 3 bits share at least one of 4 chunks of 16 bits
# exactly (pigeonhole). 16-bit chunks keep the candidates few: with 150,000 photos each
# chunk value is shared by about two others, where 9-bit chunks (7 of them, for 6 bits)
# gave hundreds.
CHUNKS = ((0, 16), (16, 32), (32, 48), (48, 64))
INDEX_BITS = len(CHUNKS) - 1
_OPENING = threading.Lock()


def dhash(path: Path) -> int | None:
    """The unsigned 64-bit dHash of an image file, or None if it is not a readable image."""
    try:
        # Opening reads the header only (and warns of a bomb); decoding happens below,
        # outside the lock. The warnings filter is process-wide, and photos are hashed
        # on several threads: one at a time may turn the warning into an error.
        with _OPENING, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            image.draft("L", (64, 64))  # JPEG: decode at a fraction of the size
            small = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        return None
    pixels = small.tobytes()  # one byte per grey pixel, row by row
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return bits


def dhash_files(paths: Sequence[str]) -> list[int | None]:
    """`dhash` of each file, None where it is missing or not a readable image: what a
    hashing process runs (server/validation/hashing.py)."""
    return [dhash(Path(path)) for path in paths]


def signed(value: int) -> int:
    """A 64-bit hash as a signed integer (PostgreSQL BIGINT)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned(value: int) -> int:
    return value & ((1 << 64) - 1)


def chunk_keys(value: int) -> list[str]:
    """The hash's 4 chunks as lookup prefixes of a fixed width ("3:00417"): hashes within
    `INDEX_BITS` share at least one."""
    value = unsigned(value)
    return [
        f"{i}:{(value >> start) & ((1 << (end - start)) - 1):05d}"
        for i, (start, end) in enumerate(CHUNKS)
    ]


def chunk_entries(value: int) -> list[str]:
    """The hash's keys: each chunk followed by the whole hash ("3:00417:1234..."), so a
    look-up by chunk gets the hashes to compare without reading them again."""
    value = unsigned(value)
    return [f"{chunk}:{value}" for chunk in chunk_keys(value)]
