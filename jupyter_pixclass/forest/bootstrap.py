"""Each tree's bootstrap sample, drawn pixel by pixel from the pixels' keys, compiled.

A pixel's count in a tree's sample is a Poisson draw with its class's rate (the online bagging of
Oza and Russell), read off a uniform number made of the pixel's key and the tree's seed alone: a
pixel keeps its counts in every tree while other labels come and go, so a stroke changes the
trees only where its pixels change a split.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mix64", "key_hashes", "keyed_counts", "sample_indices"]


@njit(nogil=True, cache=True)
def mix64(z):  # pragma: no cover - compiled
    """splitmix64's finaliser: a uint64 to a well-spread uint64 (keys and nodes' paths to seeds)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(nogil=True, cache=True)
def key_hashes(keys, seed):  # pragma: no cover - compiled
    """Well-spread uint64 numbers, one per uint64 key, for ``seed`` (a uint64): how pixels are picked by key."""
    out = np.empty(keys.size, np.uint64)
    s = mix64(seed)
    for i in range(keys.size):
        out[i] = mix64(keys[i] ^ s)
    return out


@njit(nogil=True, cache=True)
def keyed_counts(seed, hashed, y, table, times):  # pragma: no cover - compiled
    """Each pixel's count in the sample of the tree seeded ``seed`` into ``times``; returns the sample's size.

    Pixel ``i`` (class ``y[i]``) draws a Poisson count at its class's rate: ``table[y[i]]`` holds the
    cumulative probabilities as uint64 fractions of 2**64 (:func:`.train.poisson_table`), read at a
    uniform number made of ``hashed[i]`` (its key through :func:`key_hashes`) and ``seed`` alone.
    """
    total = 0
    C = table.shape[1]  # at least 4 (poisson_table)
    flat = table.ravel()
    for i in range(hashed.size):
        # the key is mixed already: one multiply and shift spread the tree's seed over the top bits
        u = (hashed[i] ^ seed) * np.uint64(0x9E3779B97F4A7C15)
        u ^= u >> np.uint64(29)
        base = y[i] * C
        # counts of 0, 1, 2 (nearly all of them) without branching on which: they come at random
        c = np.int64(u >= flat[base]) + np.int64(u >= flat[base + 1]) + np.int64(u >= flat[base + 2])
        while c >= 3 and c < C - 1 and u >= flat[base + c]:
            c += 1
        times[i] = c
        total += c
    return total


@njit(nogil=True, cache=True)
def sample_indices(times, out):  # pragma: no cover - compiled
    """Pixel ``i`` ``times[i]`` times into ``out`` (two elements longer than the sample), in increasing order.

    A node then reads a feature's bins front to back."""
    # each pixel written twice, then the position moves by its count (0, 1 or 2; more is rare): no
    # branch on the counts, which vary at random
    j = 0
    for s in range(times.size):
        t = times[s]
        out[j] = s
        out[j + 1] = s
        if t > 2:
            for r in range(2, t):
                out[j + r] = s
        j += t
