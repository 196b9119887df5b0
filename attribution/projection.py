"""Seeded random projections (Rademacher or Gaussian) generated in blocks of rows.

A projector maps vectors of ``input_dim`` numbers to ``proj_dim`` numbers with
the matrix ``R / sqrt(proj_dim)``, where ``R`` has independent +-1 (Rademacher)
or N(0, 1) (Gaussian) entries. ``R`` is never built whole: its rows are cut
into blocks of ``block_rows`` and block ``b`` comes from its own generator,
seeded by ``(seed, b)``. So the matrix depends only on ``(input_dim, proj_dim,
seed, kind, block_rows)`` (see :meth:`RandomProjector.key`), never on how the
input is batched or split, and each block is regenerated on demand (blocks are
kept in memory up to ``cache_bytes``). Memory stays at one block plus the
cache, whatever ``input_dim`` is.

Johnson-Lindenstrauss: for unit vectors ``x``, ``y`` and ``0 < eps < 1``,
``P(| <Px, Py> - <x, y> | > eps) <= 4 exp(-(eps^2/2 - eps^3/3) proj_dim / 2)``
(norm preservation, Achlioptas 2003, applied to ``x + y`` and ``x - y``);
:func:`jl_failure_bound` computes it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

RADEMACHER = "rademacher"
GAUSSIAN = "gaussian"
KINDS = (RADEMACHER, GAUSSIAN)
DEFAULT_BLOCK_ROWS = 1 << 15
DEFAULT_CACHE_BYTES = 512 << 20


class Projector(Protocol):
    """Maps rows of ``input_dim`` numbers (given as column pieces) to ``proj_dim`` numbers."""

    input_dim: int
    proj_dim: int

    def project(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """``parts``: tensors (batch, n_i) whose widths sum to ``input_dim``; -> (batch, proj_dim)."""
        ...

    def key(self) -> dict[str, object]:
        """Everything that determines the matrix (for feature-store keys)."""
        ...


def jl_failure_bound(eps: float, proj_dim: int) -> float:
    """Upper bound on P(|<Px, Py> - <x, y>| > eps) for one pair of unit vectors."""
    return min(1.0, 4 * math.exp(-(eps**2 / 2 - eps**3 / 3) * proj_dim / 2))


def block_seed(seed: int, block: int) -> int:
    """A 63-bit generator seed for one block, independent across blocks and seeds."""
    digest = hashlib.sha256(f"chunky-audit-projection:{seed}:{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class RandomProjector:
    """Seeded Rademacher or Gaussian projection whose blocks are generated on demand."""

    def __init__(
        self,
        input_dim: int,
        proj_dim: int,
        *,
        seed: int = 0,
        kind: str = RADEMACHER,
        block_rows: int = DEFAULT_BLOCK_ROWS,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        device: str = "cpu",
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"projection kind must be one of {KINDS}, not {kind!r}")
        if input_dim < 1 or proj_dim < 1 or block_rows < 1:
            raise ValueError("input_dim, proj_dim and block_rows must be >= 1")
        self.input_dim = input_dim
        self.proj_dim = proj_dim
        self.seed = seed
        self.kind = kind
        self.block_rows = block_rows
        self.cache_bytes = cache_bytes
        self.device = device
        self._cache: dict[int, torch.Tensor] = {}
        self._cached_bytes = 0
        self.blocks_generated = 0  # how often a block was generated (cache misses)

    @property
    def n_blocks(self) -> int:
        """Blocks of ``block_rows`` rows the matrix is cut into."""
        return -(-self.input_dim // self.block_rows)

    def key(self) -> dict[str, object]:
        """Everything that determines the matrix (for feature-store keys)."""
        return {
            "input_dim": self.input_dim,
            "proj_dim": self.proj_dim,
            "seed": self.seed,
            "kind": self.kind,
            "block_rows": self.block_rows,
        }

    def block(self, index: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Rows ``[index * block_rows, ...)`` of the scaled matrix, as a float tensor."""
        import torch

        dtype = dtype or torch.float32
        stored = self._cache.get(index)
        if stored is None:
            stored = self._generate(index)
            self.blocks_generated += 1
            size = stored.numel() * stored.element_size()
            if self._cached_bytes + size <= self.cache_bytes:
                self._cache[index] = stored
                self._cached_bytes += size
        if self.kind == RADEMACHER:  # stored as int8 signs: scale on the way out
            return stored.to(dtype) * (1.0 / math.sqrt(self.proj_dim))
        return stored.to(dtype)

    def _generate(self, index: int) -> torch.Tensor:
        """Block ``index`` drawn afresh from its own seeded generator."""
        import torch

        start = index * self.block_rows
        rows = min(self.block_rows, self.input_dim - start)
        generator = torch.Generator(device=self.device).manual_seed(block_seed(self.seed, index))
        shape = (rows, self.proj_dim)
        if self.kind == RADEMACHER:
            bits = torch.randint(
                0, 2, shape, generator=generator, dtype=torch.int8, device=self.device
            )
            return bits * 2 - 1
        scale = 1.0 / math.sqrt(self.proj_dim)
        return torch.randn(shape, generator=generator, device=self.device) * scale

    def matrix(self) -> torch.Tensor:
        """The whole (input_dim, proj_dim) matrix: for tests and small inputs only."""
        import torch

        return torch.cat([self.block(b) for b in range(self.n_blocks)])

    def project(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        """Project the row-wise concatenation of ``parts`` without building it."""
        import torch

        widths = [int(p.shape[1]) for p in parts]
        if sum(widths) != self.input_dim:
            raise ValueError(f"inputs have {sum(widths)} columns, the projector {self.input_dim}")
        batch = int(parts[0].shape[0])
        dtype = parts[0].dtype if parts[0].is_floating_point() else torch.float32
        out = torch.zeros(batch, self.proj_dim, dtype=dtype, device=parts[0].device)
        pieces = _Pieces(parts)
        for b in range(self.n_blocks):
            start = b * self.block_rows
            stop = min(start + self.block_rows, self.input_dim)
            x = pieces.columns(start, stop).to(device=self.device, dtype=dtype)
            out += (x @ self.block(b, dtype)).to(out.device)
        return out


class _Pieces:
    """Column ranges of a virtual horizontal concatenation of 2-d tensors."""

    def __init__(self, parts: Sequence[torch.Tensor]) -> None:
        self.parts = list(parts)
        self.offsets = [0]
        for p in self.parts:
            self.offsets.append(self.offsets[-1] + int(p.shape[1]))

    def columns(self, start: int, stop: int) -> torch.Tensor:
        """Columns ``start:stop`` of the concatenation (no copy when one part covers them)."""
        import torch

        chosen = []
        for i, part in enumerate(self.parts):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            if hi <= start or lo >= stop:
                continue
            chosen.append(part[:, max(start, lo) - lo : min(stop, hi) - lo])
        return chosen[0] if len(chosen) == 1 else torch.cat(chosen, dim=1)
