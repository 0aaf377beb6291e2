"""Level of detail for the robot's visual meshes: vertex clustering on a regular grid.

Menagerie's Panda carries ~137k triangles on ~400k vertices (its OBJ files split every vertex
per face corner), and on a CPU-only machine (llvmpipe) drawing them is ~3/4 of a 640x480 RGB-D
frame. From the task camera one pixel at the table is ~1.6 mm, so detail below a few mm cannot
be seen; merging every vertex in one grid cell into their mean (Rossignac & Borrel's clustering)
drops it. Plain numpy, deterministic, no mesh library. Only visual geoms are touched: collision
meshes, masses and inertias (explicit in the MJCF) stay as shipped, so physics is unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_vertices"]


def cluster_vertices(vert: np.ndarray, face: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) triangles -> the mesh with every vertex moved to the mean of its
    ``cell``-sized grid cube, shared vertices merged, and triangles that collapsed (two corners in
    one cell) or repeat another dropped. Each vertex moves less than ``cell * sqrt(3)``.
    ``cell <= 0`` returns the mesh unchanged."""
    vert = np.asarray(vert, np.float64)
    face = np.asarray(face, np.int64)
    if vert.ndim != 2 or vert.shape[1] != 3 or face.ndim != 2 or face.shape[1] != 3:
        raise ValueError(f"expected (V, 3) vertices and (F, 3) faces, got {vert.shape} and {face.shape}")
    if cell <= 0:
        return vert, face
    key = np.floor(vert / cell).astype(np.int64)
    key -= key.min(axis=0)
    _, inverse, counts = np.unique(_row_ids(key), return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    merged = np.zeros((counts.size, 3))
    np.add.at(merged, inverse, vert)
    merged /= counts[:, None]
    f = inverse[face]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    # the same triangle twice (same winding, any starting corner) is drawn once
    start = np.argmin(f, axis=1)
    rolled = np.stack([f[np.arange(len(f)), (start + k) % 3] for k in range(3)], axis=1)
    _, first = np.unique(_row_ids(rolled), return_index=True)
    f = f[np.sort(first)]
    used = np.unique(f)  # vertices no triangle refers to any more
    remap = np.full(counts.size, -1, np.int64)
    remap[used] = np.arange(used.size)
    return merged[used], remap[f]


def _row_ids(rows: np.ndarray) -> np.ndarray:
    """One int64 per row of non-negative ints, equal exactly when the rows are (a 1-D unique is
    ~10x faster than ``np.unique(axis=0)``)."""
    span = rows.max(axis=0) + 1
    if np.prod(span.astype(np.float64)) >= 2.0**62:
        raise ValueError("mesh too large for the grid: use a coarser cell")
    return (rows[:, 0] * span[1] + rows[:, 1]) * span[2] + rows[:, 2]
