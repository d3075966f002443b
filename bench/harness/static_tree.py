"""The static-mix cell's files: a generated directory and the popularity wrk requests them with.

Generated at the start of a run into a temporary directory, from a fixed seed, so every run and
every server sees the same bytes: :data:`SMALL_FILES` small files of 200 B-16 KiB (log-uniform
sizes, six web extensions, in a few sub-directories) and :data:`LARGE_SIZES` large ones (1, 2, 4
and 8 MiB). Every file's modification time is :data:`MTIME`, so its ``Last-Modified`` is
:data:`LAST_MODIFIED` everywhere and a request with ``If-Modified-Since`` of that date gets 304.

Popularity (``picks``): a Zipf law (weight 1/rank) over the small files in a shuffled order,
and :data:`LARGE_SHARE` of the requests spread evenly over the large files.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

SEED = 12
SMALL_FILES = 400
SMALL_MIN, SMALL_MAX = 200, 16 * 1024
LARGE_SIZES = (1 << 20, 2 << 20, 4 << 20, 8 << 20)
LARGE_SHARE = 0.005
#: The length of the request sequence wrk cycles through (a prime, so it does not line up with
#: the every-fourth-request conditional GETs).
PICKS = 10007
#: 2026-01-01 00:00:00 UTC
MTIME = 1767225600
LAST_MODIFIED = formatdate(MTIME, usegmt=True)
_EXTENSIONS = (("css", "css"), ("js", "js"), ("img", "svg"), ("data", "json"), ("", "html"), ("", "txt"))


@dataclass
class StaticTree:
    root: Path
    #: URL paths, ``/css/f000.css`` ...
    paths: list[str]
    sizes: list[int]
    picks: list[int]

    @property
    def small(self) -> list[bool]:
        return [size <= SMALL_MAX for size in self.sizes]

    def lua_prelude(self) -> list[str]:
        """The Lua globals ``lua/static_mix.lua`` reads (1-based indexes)."""

        def table(values: list[str]) -> str:
            return "{" + ",".join(values) + "}"

        return [
            "static_paths = " + table([f'"{p}"' for p in self.paths]),
            "static_small = " + table(["1" if s else "0" for s in self.small]),
            "static_picks = " + table([str(i + 1) for i in self.picks]),
            f'static_lastmod = "{LAST_MODIFIED}"',
        ]

    def describe(self) -> str:
        small = [s for s in self.sizes if s <= SMALL_MAX]
        large = [s for s in self.sizes if s > SMALL_MAX]
        share = sum(1 for i in self.picks if self.sizes[i] > SMALL_MAX) / len(self.picks)
        mean = sum(self.sizes[i] for i in self.picks) / len(self.picks)
        return (
            f"{len(small)} small files ({min(small):,}–{max(small):,} B, {sum(small) / 2**20:.1f} MiB), "
            f"{len(large)} large ({', '.join(f'{s >> 20} MiB' for s in large)}); "
            f"{share:.1%} of requests for a large file; mean response body {mean / 1024:.1f} KiB "
            "before 304s; every 4th request for a small file conditional (304)"
        )


def generate(root: Path) -> StaticTree:
    """Write the files under ``root`` (which must exist) and return the tree's description."""
    rng = random.Random(SEED)
    paths: list[str] = []
    sizes: list[int] = []
    for i in range(SMALL_FILES):
        folder, ext = _EXTENSIONS[i % len(_EXTENSIONS)]
        size = int(SMALL_MIN * math.exp(rng.random() * math.log(SMALL_MAX / SMALL_MIN)))
        paths.append(f"/{folder + '/' if folder else ''}f{i:03d}.{ext}")
        sizes.append(size)
    for size in LARGE_SIZES:
        paths.append(f"/media/video-{size >> 20}m.bin")
        sizes.append(size)
    for path, size in zip(paths, sizes, strict=True):
        file = root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(rng.randbytes(size))
        os.utime(file, (MTIME, MTIME))
    ranks = list(range(SMALL_FILES))
    rng.shuffle(ranks)  # popularity is not file order
    weights = [1.0 / (rank + 1) for rank in ranks]
    total = sum(weights)
    weights = [w / total * (1 - LARGE_SHARE) for w in weights]
    weights += [LARGE_SHARE / len(LARGE_SIZES)] * len(LARGE_SIZES)
    picks = rng.choices(range(len(paths)), weights=weights, k=PICKS)
    return StaticTree(root, paths, sizes, picks)
