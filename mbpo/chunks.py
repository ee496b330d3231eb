"""Big no-grad batches run in row chunks that stay in the CPU cache, with the numbers of one big call.

A 100k-branch rollout step pushes ``(100000, 256)`` activations (100 MB each) through the policy and the
ensemble: every elementwise op then streams through DRAM (and, above glibc's mmap threshold, every fresh
tensor page-faults). Cutting the rows into chunks of a few MB keeps each layer's output in L2 and made the
rollout step about 2× faster on a 1-thread CPU.

Chunking must not change a single bit (``tests/test_golden.py``, and paper-scale runs compared with the
landed code), which holds for two reasons that the chunk boundaries respect:

* a row of a matrix product does not depend on the other rows (checked for every layer shape we use in
  ``tests/test_chunks.py``; MKL keeps one reduction order per row once a call has more than a few rows,
  on Intel AVX-512. On an AMD EPYC with AVX2 it does not for narrow outputs, InvertedPendulum's last
  ensemble layer of 10 columns, at any row count: there the chunked bits differ from one call's, as the
  bits of any two call sizes do, and the golden runs of that machine class pin them);
* ATen's elementwise CPU kernels run vector code over blocks of 32 floats and scalar code over the
  remainder, and the two may differ in the last bit (``exp`` inside SiLU, for instance). Every full chunk
  has a multiple of 32 rows, so it has no remainder, and the last chunk ends where the whole tensor ends,
  so exactly the same elements go through the scalar path as in one big call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

CHUNK_BYTES = 1 << 20  # the widest activation of one chunk: well inside the L2 of one core (2 MiB here)
_ALIGN = 32  # rows per chunk are a multiple of this (ATen's vector block for float32 with AVX-512)


def rows_per_chunk(floats_per_row: int, chunk_bytes: int | None = None) -> int:
    """Rows whose widest activation (``floats_per_row`` float32 values per row) fits ``chunk_bytes``."""
    budget = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    return max(_ALIGN, budget // (4 * max(1, floats_per_row)) // _ALIGN * _ALIGN)


def row_chunks(rows: int, size: int) -> list[tuple[int, int]]:
    """Half-open row ranges that cover ``[0, rows)`` in order.

    All chunks have ``size`` rows (a multiple of 32) except the last, which takes the remainder; a
    remainder shorter than half a chunk joins the chunk before it, so that no chunk is small enough to take
    a different matrix-product code path.
    """
    if rows < 0 or size < 1 or size % _ALIGN:
        raise ValueError(f"need rows >= 0 and size a positive multiple of {_ALIGN}, got rows={rows}, size={size}")
    bounds = [*range(0, rows, size), rows]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < size // 2:
        del bounds[-2]
    return list(itertools.pairwise(bounds))


def map_row_chunks(
    fn: Callable[[Tensor], Tensor], x: Tensor, floats_per_row: int, dim: int = 0, chunk_bytes: int | None = None
) -> Tensor:
    """``fn(x)`` computed on chunks of ``x`` along ``dim`` and concatenated along ``dim``.

    ``fn`` must treat rows along ``dim`` independently (a stack of linear layers and activations does);
    ``floats_per_row`` is the size of its widest activation per row (e.g. ``members * hidden``). Below two
    chunks' worth of rows this is just ``fn(x)``.
    """
    size = rows_per_chunk(floats_per_row, chunk_bytes)
    rows = x.shape[dim]
    if rows < 2 * size:
        return fn(x)
    return torch.cat([fn(x.narrow(dim, start, stop - start)) for start, stop in row_chunks(rows, size)], dim)
