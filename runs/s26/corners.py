"""python runs/s26/corners.py -> runs/s26/corners.txt

Does a coarse tablet cut a stroke's corners, as the conventions benchmark's "few points" and "coarse tablet"
samplings do (handwriting_test._mouse_points: points at equal distances along the path, every 0.14-0.3 or 0.3-0.5 of
the digit's height)?  A tablet samples in time, and a pen slows down at a corner.  On the real-strokes file's training
writers (no model is tuned here; the held-out site is not read): for every pen-down with a sharp corner (the path
turns by more than 60 degrees within a tenth of the digit's height), thin the raw trajectory to the same number of
points two ways, (a) every k-th sample in time with a random phase (a slower tablet) and (b) at equal distances along
the path (the benchmark's way), and measure how far the corner lies from the thinned polyline, in digit heights.
Printed: median and 90th percentile of that distance, and the share of corners further than 0.05 of the height.

(c), for runs/s26/RULE3.md's check 2: the same number of points at equal time steps along the path with its timing
ignored, the pen's speed given by the two-thirds power law (speed proportional to (curvature + 1/h)^(-1/3), the
curvature taken on the path smoothed by a Gaussian of 0.03 h along its length; both constants set before this ran)."""
import numpy as np

from digitlab.data import unipen


def pen_downs(keep=None):
    """The training writers' pen-downs of 12 points or more (of the items ``keep(item)`` accepts, if given) -> (points,
    digit height, steps, arc length) each.  runs/s27/corners_rule4.py fits its speed table on them."""
    for it in unipen.split(unipen.load(unipen.default_path())).train:
        if keep is not None and not keep(it):
            continue
        pts_all = np.concatenate([np.asarray(s, float) for s in it.strokes])
        h = max(np.ptp(pts_all[:, 1]), 0.35 * np.ptp(pts_all[:, 0]), 1e-9)
        for s in it.strokes:
            s = np.asarray(s, float)
            if len(s) >= 12:
                seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
                yield s, h, seg, np.concatenate([[0.0], np.cumsum(seg)])


def sharp_corners(keep=None):
    """The training writers' pen-downs (those whose item ``keep(item)`` accepts, if given) that turn a sharp corner ->
    (points, digit height, steps, arc length, index of the sharpest corner) each: the pen-down has 12 points or more
    and is at least half a digit height long, and its path turns by more than 60 degrees between the directions 0.05 h
    before and after a point 0.1 h or more from its ends.  runs/s26/corner_speed.py reads the same corners."""
    for s, h, seg, arc in pen_downs(keep):
        if arc[-1] < 0.5 * h:
            continue
        before = np.interp(arc - 0.05 * h, arc, np.arange(len(s)))
        after = np.interp(arc + 0.05 * h, arc, np.arange(len(s)))
        pb = np.stack([np.interp(before, np.arange(len(s)), s[:, k]) for k in (0, 1)], 1)
        pa = np.stack([np.interp(after, np.arange(len(s)), s[:, k]) for k in (0, 1)], 1)
        u, v = s - pb, pa - s
        cos = (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-12)
        inner = (arc > 0.1 * h) & (arc < arc[-1] - 0.1 * h)
        if not inner.any() or cos[inner].min() > np.cos(np.radians(60)):
            continue
        yield s, h, seg, arc, int(np.flatnonzero(inner)[np.argmin(cos[inner])])


def dist_to_polyline(p, poly):
    a, b = poly[:-1], poly[1:]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - p, axis=1)))


SMOOTH = 0.03  # the smoothing radius, digit heights
KAPPA0 = 1.0  # curvature added everywhere, 1 / digit height: a straight stretch has a finite speed


def power_law_times(path: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """A path (points, timing ignored) -> (arc length, time) at points 0.01 h apart, the pen's speed by the
    two-thirds power law on the path smoothed over SMOOTH h."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.arange(0, arc[-1], 0.01 * h)
    pts = np.stack([np.interp(u, arc, path[:, k]) for k in (0, 1)], 1)
    r = SMOOTH / 0.01  # in samples
    k = np.arange(-int(3 * r), int(3 * r) + 1)
    g = np.exp(-0.5 * (k / r) ** 2)
    g /= g.sum()
    sm = np.stack([np.convolve(np.pad(pts[:, j], len(k) // 2, mode="edge"), g, mode="valid") for j in (0, 1)], 1)
    d1 = np.gradient(sm, axis=0) / (0.01 * h)
    d2 = np.gradient(d1, axis=0) / (0.01 * h)
    kappa = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / np.maximum(np.linalg.norm(d1, axis=1) ** 3, 1e-12)
    speed = (kappa + KAPPA0 / h) ** (-1 / 3)
    t = np.concatenate([[0.0], np.cumsum(0.01 * h / speed[:-1])])
    return u, t


def thinned_both_ways(s, h, arc, c, spacing, rng) -> tuple[int, float, float]:
    """One pen-down thinned to the points a sampling every ``spacing`` of the height keeps, (a) every k-th sample in
    time with a random phase and (b) at equal distances along the path (the benchmark's way) -> (the points kept,
    the corner ``c``'s distance from (a), from (b)), in digit heights."""
    step = rng.uniform(*spacing) * h
    m = max(2, int(round(arc[-1] / step)) + 1)  # points the thinned path keeps
    k = max(1, (len(s) - 1) // (m - 1))
    phase = int(rng.integers(0, k))
    idx = np.unique(np.concatenate([[0], np.arange(phase, len(s), k), [len(s) - 1]]))
    at = np.arange(rng.uniform(0, 0.3) * step, arc[-1], step) + rng.uniform(-0.2, 0.2) * step
    at = np.concatenate([[0.0], np.clip(at[1:], 0, arc[-1]), [arc[-1]]])
    thin = np.stack([np.interp(at, arc, s[:, 0]), np.interp(at, arc, s[:, 1])], 1)
    return m, dist_to_polyline(s[c], s[idx]) / h, dist_to_polyline(s[c], thin) / h


def main() -> None:
    rng = np.random.default_rng(26)
    for name, spacing in (("few points", (0.14, 0.3)), ("coarse tablet", (0.3, 0.5))):
        d_time, d_arc, d_law, n = [], [], [], 0
        for s, h, _, arc, c in sharp_corners():
            m, by_time, by_arc = thinned_both_ways(s, h, arc, c, spacing, rng)
            d_time.append(by_time)
            d_arc.append(by_arc)
            u, t = power_law_times(s, h)
            if len(u) >= 2:
                dt = t[-1] / max(m - 1, 1)
                at_t = np.concatenate([[0.0], np.clip(np.arange(rng.uniform(0, 1) * dt, t[-1], dt), 0, t[-1]), [t[-1]]])
                at_s = np.interp(at_t, t, u)
                law = np.stack([np.interp(at_s, arc, s[:, 0]), np.interp(at_s, arc, s[:, 1])], 1)
                d_law.append(dist_to_polyline(s[c], law) / h)
            n += 1
        for how, d in (("every k-th sample in time", d_time), ("equal distances (the benchmark)", d_arc),
                       ("equal time steps, two-thirds power law (RULE3's candidate)", d_law)):
            d = np.asarray(d)
            print(f"{name}: {n} corners; {how}: median {np.median(d):.3f} h, 90th pct {np.percentile(d, 90):.3f} h, "
                  f"> 0.05 h {np.mean(d > 0.05):.0%}")


if __name__ == "__main__":
    main()
