"""Compiled kernels for the nearest index: a static k-d tree over unit vectors, filtered k-NN.

The tree is implicit and complete: node i has children 2i+1 and 2i+2, every range is split at
its count midpoint, so node ranges are recomputed while descending and never stored. Points
are stored in tree order, so a leaf is a contiguous slice. Each node keeps a tight bounding
box plus the OR of its points' status bits, so a filtered search skips subtrees that cannot
match. Chord distance between unit vectors is monotone in great-circle distance, which is
what makes Euclidean k-NN here exact on the sphere.

Per-point attributes, one array each: the status code (int8) and `dead_at` (int64), the index
version at which the point stopped being visible (NEVER while it lives). A reader passes its
snapshot version and sees exactly the points alive at that version. The status array and its
node masks are arguments, so a search may use another status per point (a layer, e.g. "open
in this minute") over the same tree: `node_masks` computes a layer's masks.

Tags have no ceiling: each tag has a sorted list of the tree positions carrying it, all in one
array (`tag_pos`). A tag filter is a (m, 3) array of (tag, start, end) slices of it, rarest
first: each node carries its share of the rarest tag's slice (split by one binary search as
the search descends), an empty share prunes the node, a leaf visits only those points, and
the other tags are checked by binary search. Pending rows keep
their tag ids in a per-row list (`p_tag_start`, `p_tags`). An untagged query passes m = 0 and
runs the plain loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

EARTH_RADIUS_M = 6371008.8  # mean Earth radius (IUGG), the one every distance here uses
NEVER = np.iinfo(np.int64).max
_STACK = 128  # depth of a complete tree over 2**63 points is < 64; two entries per level


def tree_depth(n: int, leaf_size: int) -> int:
    """Levels below the root so that every leaf holds at most `leaf_size` points."""
    depth = 0
    while (n + (1 << depth) - 1) >> depth > leaf_size:
        depth += 1
    return depth


@njit(cache=True)
def _select(perm, key, lo, hi, nth):
    """Reorder perm[lo:hi] so perm[nth] has the nth key and smaller keys come before it."""
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        a, b, c = key[perm[lo]], key[perm[mid]], key[perm[hi - 1]]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i, j = lo, hi - 1
        while i <= j:
            while key[perm[i]] < pivot:
                i += 1
            while key[perm[j]] > pivot:
                j -= 1
            if i <= j:
                perm[i], perm[j] = perm[j], perm[i]
                i += 1
                j -= 1
        if nth <= j:
            hi = j + 1
        elif nth >= i:
            lo = i
        else:
            return


@njit(cache=True, nogil=True)
def _node_ranges(n, depth):
    """(lo, hi) tree positions of every node: ranges split at their count midpoint."""
    n_nodes = (1 << (depth + 1)) - 1
    node_lo = np.empty(n_nodes, np.int64)
    node_hi = np.empty(n_nodes, np.int64)
    node_lo[0], node_hi[0] = 0, n
    for node in range((1 << depth) - 1):
        lo, hi = node_lo[node], node_hi[node]
        mid = lo + (hi - lo) // 2
        node_lo[2 * node + 1], node_hi[2 * node + 1] = lo, mid
        node_lo[2 * node + 2], node_hi[2 * node + 2] = mid, hi
    return node_lo, node_hi


@njit(cache=True, nogil=True)  # a compaction builds beside readers
def build_tree(xyz, depth):
    """Return (perm, bbox): tree order and node boxes (min xyz, max xyz)."""
    n = xyz.shape[0]
    n_nodes = (1 << (depth + 1)) - 1
    first_leaf = (1 << depth) - 1
    perm = np.arange(n)
    cols = np.ascontiguousarray(xyz.T)
    node_lo, node_hi = _node_ranges(n, depth)
    for node in range(first_leaf):
        lo, hi = node_lo[node], node_hi[node]
        mid = lo + (hi - lo) // 2
        best_dim, best_spread = 0, -1.0
        for d in range(3):
            mn, mx = np.inf, -np.inf
            for j in range(lo, hi):
                v = cols[d, perm[j]]
                mn = min(mn, v)
                mx = max(mx, v)
            if mx - mn > best_spread:
                best_dim, best_spread = d, mx - mn
        if hi - lo > 1:
            _select(perm, cols[best_dim], lo, hi, mid)
    bbox = np.empty((n_nodes, 6))
    for node in range(first_leaf, n_nodes):
        for d in range(3):
            bbox[node, d] = np.inf
            bbox[node, d + 3] = -np.inf
        for j in range(node_lo[node], node_hi[node]):
            p = perm[j]
            for d in range(3):
                bbox[node, d] = min(bbox[node, d], xyz[p, d])
                bbox[node, d + 3] = max(bbox[node, d + 3], xyz[p, d])
    for node in range(first_leaf - 1, -1, -1):
        a, b = 2 * node + 1, 2 * node + 2
        for d in range(3):
            bbox[node, d] = min(bbox[a, d], bbox[b, d])
            bbox[node, d + 3] = max(bbox[a, d + 3], bbox[b, d + 3])
    return perm, bbox


@njit(cache=True, nogil=True)
def node_masks(status, depth):
    """Per-node OR of `1 << status` over the node's points (status in tree order), int8."""
    n = status.shape[0]
    n_nodes = (1 << (depth + 1)) - 1
    first_leaf = (1 << depth) - 1
    node_lo, node_hi = _node_ranges(n, depth)
    masks = np.zeros(n_nodes, np.int8)
    for node in range(first_leaf, n_nodes):
        m = 0
        for j in range(node_lo[node], node_hi[node]):
            m |= 1 << status[j]
        masks[node] = m
    for node in range(first_leaf - 1, -1, -1):
        masks[node] = masks[2 * node + 1] | masks[2 * node + 2]
    return masks


@njit(inline="always")
def _gap2(v, lo, hi):
    """Squared distance from v to the interval [lo, hi]."""
    if v < lo:
        return (lo - v) ** 2
    if v > hi:
        return (v - hi) ** 2
    return 0.0


@njit(inline="always")
def _box_d2(bbox, node, x, y, z):
    """Squared distance from (x, y, z) to the node's box (0 inside)."""
    b = bbox[node]
    return _gap2(x, b[0], b[3]) + _gap2(y, b[1], b[4]) + _gap2(z, b[2], b[5])


@njit(inline="always")
def _push(heap_d, heap_r, size, k, d2, ref):
    """Offer (d2, ref) to a max-heap of capacity k; return the new size."""
    if size < k:
        i = size
        size += 1
        while i > 0:
            parent = (i - 1) >> 1
            if heap_d[parent] >= d2:
                break
            heap_d[i], heap_r[i] = heap_d[parent], heap_r[parent]
            i = parent
        heap_d[i], heap_r[i] = d2, ref
        return size
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_d[child + 1] > heap_d[child]:
            child += 1
        if heap_d[child] <= d2:
            break
        heap_d[i], heap_r[i] = heap_d[child], heap_r[child]
        i = child
    heap_d[i], heap_r[i] = d2, ref
    return size


@njit(inline="always")
def _visible(status, dead_at, j, status_mask, version):
    """Whether point j passes the status filter and is alive at `version`."""
    return (status_mask >> status[j]) & 1 == 1 and dead_at[j] > version


@njit(inline="always")
def _lower_bound(arr, start, end, value):
    """First index in the sorted arr[start:end] whose value is >= value (end if none)."""
    while start < end:
        mid = (start + end) >> 1
        if arr[mid] < value:
            start = mid + 1
        else:
            end = mid
    return start


@njit(inline="always")
def _tags_ok(tag_pos, want, first, j):
    """Whether base point j carries every wanted tag from want[first] on."""
    for i in range(first, want.shape[0]):
        q = _lower_bound(tag_pos, want[i, 1], want[i, 2], j)
        if q == want[i, 2] or tag_pos[q] != j:
            return False
    return True


@njit(inline="always")
def _pending_tags_ok(p_tag_start, p_tags, want, s):
    """Whether pending row s carries every wanted tag (its own list is short: a scan)."""
    for i in range(want.shape[0]):
        found = False
        for q in range(p_tag_start[s], p_tag_start[s + 1]):
            if p_tags[q] == want[i, 0]:
                found = True
                break
        if not found:
            return False
    return True


@njit(inline="always")
def _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, node, lo, hi, d2, q):
    """Put a node (tree positions lo..hi, tag list from q on) on the search stack."""
    st_node[sp], st_lo[sp], st_hi[sp], st_d2[sp], st_q[sp] = node, lo, hi, d2, q
    return sp + 1


@njit(cache=True, nogil=True)
def knn(lat, lng, max_d2, status_mask, want, version, depth,
        pts, bbox, masks, status, dead_at, ids, tag_pos, p_pts, p_status, p_dead, p_ids, p_count,
        p_tag_start, p_tags, out_ids, out_m):  # fmt: skip
    """Fill out_ids/out_m with the visible points nearest to (lat, lng); return how many.

    k is len(out_ids). Results are nearest first, distances in metres on the mean sphere.
    """
    k = out_ids.shape[0]
    rlat, rlng = math.radians(lat), math.radians(lng)
    x = math.cos(rlat) * math.cos(rlng)
    y = math.cos(rlat) * math.sin(rlng)
    z = math.sin(rlat)
    heap_d = np.empty(k)
    heap_r = np.empty(k, np.int64)  # >= 0: base position; < 0: pending slot -(s + 1)
    size = 0
    n = pts.shape[0]
    first_leaf = (1 << depth) - 1
    st_node = np.empty(_STACK, np.int64)
    st_lo = np.empty(_STACK, np.int64)
    st_hi = np.empty(_STACK, np.int64)
    st_d2 = np.empty(_STACK)
    # With a tag filter, a node's points of the rarest wanted tag are tag_pos[q:q_end], where
    # q is kept per node and q_end is where the next position >= hi is: a child's slice is
    # found by one binary search inside its parent's, and an empty slice prunes the child.
    st_q = np.zeros(_STACK, np.int64)
    tagged = want.shape[0] > 0
    t_end = want[0, 2] if tagged else 0
    sp = 0
    bound = max_d2  # the k-th best squared chord so far, or the radius until k are found
    if n > 0 and masks[0] & status_mask != 0 and (not tagged or want[0, 1] < t_end):
        sp = _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, 0, 0, n,
                        _box_d2(bbox, 0, x, y, z), want[0, 1] if tagged else 0)
    while sp > 0:
        sp -= 1
        node, lo, hi, nd2, q = st_node[sp], st_lo[sp], st_hi[sp], st_d2[sp], st_q[sp]
        if nd2 > bound:
            continue
        if node >= first_leaf:
            if not tagged:
                for j in range(lo, hi):
                    d2 = (pts[j, 0] - x) ** 2 + (pts[j, 1] - y) ** 2 + (pts[j, 2] - z) ** 2
                    if d2 <= bound and _visible(status, dead_at, j, status_mask, version):
                        size = _push(heap_d, heap_r, size, k, d2, j)
                        bound = heap_d[0] if size == k else max_d2
                continue
            while q < t_end and tag_pos[q] < hi:  # only the leaf's points of the rarest tag
                j = tag_pos[q]
                q += 1
                d2 = (pts[j, 0] - x) ** 2 + (pts[j, 1] - y) ** 2 + (pts[j, 2] - z) ** 2
                if d2 <= bound and _visible(status, dead_at, j, status_mask, version) and \
                        _tags_ok(tag_pos, want, 1, j):
                    size = _push(heap_d, heap_r, size, k, d2, j)
                    bound = heap_d[0] if size == k else max_d2
            continue
        mid = lo + (hi - lo) // 2
        a, b = 2 * node + 1, 2 * node + 2
        da, db = _box_d2(bbox, a, x, y, z), _box_d2(bbox, b, x, y, z)
        ok_a = da <= bound and masks[a] & status_mask != 0
        ok_b = db <= bound and masks[b] & status_mask != 0
        q_mid = q
        if tagged:
            q_mid = _lower_bound(tag_pos, q, t_end, mid)
            ok_a = ok_a and q_mid > q
            ok_b = ok_b and q_mid < t_end and tag_pos[q_mid] < hi
        if da <= db:  # push the farther child first so the nearer one is searched first
            if ok_b:
                sp = _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, b, mid, hi, db, q_mid)
            if ok_a:
                sp = _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, a, lo, mid, da, q)
        else:
            if ok_a:
                sp = _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, a, lo, mid, da, q)
            if ok_b:
                sp = _push_node(st_node, st_lo, st_hi, st_d2, st_q, sp, b, mid, hi, db, q_mid)
    # Pending changes last: by now the bound is tight and most are rejected on distance alone.
    for s in range(p_count):
        d2 = (p_pts[s, 0] - x) ** 2 + (p_pts[s, 1] - y) ** 2 + (p_pts[s, 2] - z) ** 2
        if d2 <= bound and _visible(p_status, p_dead, s, status_mask, version) and \
                (not tagged or _pending_tags_ok(p_tag_start, p_tags, want, s)):
            size = _push(heap_d, heap_r, size, k, d2, -(s + 1))
            bound = heap_d[0] if size == k else max_d2
    order = np.argsort(heap_d[:size], kind="mergesort")
    for i in range(size):
        ref = heap_r[order[i]]
        out_ids[i] = ids[ref] if ref >= 0 else p_ids[-ref - 1]
        chord = math.sqrt(heap_d[order[i]])
        out_m[i] = 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, 0.5 * chord))
    return size


@njit(cache=True, nogil=True)
def find_positions(ids, pos_by_id, wanted):
    """Tree position of each wanted id (-1 if absent); `pos_by_id` lists tree positions in
    ascending id order, so no sorted copy of the ids is kept."""
    out = np.full(wanted.shape[0], -1, np.int64)
    n = ids.shape[0]
    for w in range(wanted.shape[0]):
        value, lo, hi = wanted[w], 0, n
        while lo < hi:
            mid = (lo + hi) >> 1
            if ids[pos_by_id[mid]] < value:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and ids[pos_by_id[lo]] == value:
            out[w] = pos_by_id[lo]
    return out
