"""python runs/s27/corners_rule4.py -> runs/s27/corners_rule4.txt: RULE4's check (RULE3's check 2 read both ways) for
its two candidates, on the real pen-downs' sharp corners of runs/s26/corners.py; no model read.

A: a stop at every sharp turn, minimum-jerk pieces between stops.  B: speed by turning angle, a table fit on the fit
half of the training writers, the check on the other half.  Each row beside time thinning's median on the same
corners; a candidate passes when, for both samplings, its median lies within a factor of 1.5 of it either way."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "s26"))
from corners import dist_to_polyline, pen_downs, sharp_corners, thinned_both_ways  # noqa: E402  runs/s26/corners.py

from digitlab.data import unipen  # noqa: E402

STEP = 0.01  # resampling step along the path, digit heights
REACH = 0.05  # directions measured over this length before and after a point
TURN = 60.0  # degrees: a sharp turn (candidate A)
APART = 0.1  # a turn is the largest angle within this length either side
BIN = 15.0  # degrees per bin of candidate B's table
SPACINGS = (("few points", (0.14, 0.3)), ("coarse tablet", (0.3, 0.5)))


def resampled(path: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """(arc positions every STEP h, points there)."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.append(np.arange(0, arc[-1], STEP * h), arc[-1])
    return u, np.stack([np.interp(u, arc, path[:, k]) for k in (0, 1)], 1)


def turning(path: np.ndarray, arc: np.ndarray, at: np.ndarray, h: float) -> np.ndarray:
    """Degrees the path turns between its directions REACH h before and after the arc positions ``at``."""
    def point(a):
        return np.stack([np.interp(np.clip(a, 0, arc[-1]), arc, path[:, k]) for k in (0, 1)], 1)
    p, u, v = point(at), point(at) - point(at - REACH * h), point(at + REACH * h) - point(at)
    cos = (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-12)
    del p
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def path_arc(path):
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def minimum_jerk_times(path: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate A: (arc positions, times) on a fine grid; the pen stops at the ends and at every sharp turn."""
    arc = path_arc(path)
    u, _ = resampled(path, h)
    ang = turning(path, arc, u, h)
    inner = (u >= REACH * h) & (u <= arc[-1] - REACH * h)
    stops = []
    for i in np.flatnonzero(inner & (ang > TURN)):
        near = np.abs(u - u[i]) <= APART * h
        if ang[i] >= ang[near].max():
            stops.append(u[i])
    knots = np.unique(np.concatenate([[0.0], stops, [arc[-1]]]))
    fine_s, fine_t, t0 = [], [], 0.0
    tau = np.linspace(0, 1, 201)
    for a, b in zip(knots[:-1], knots[1:]):
        length = b - a
        dur = np.sqrt(max(length, 1e-12) / h)
        fine_s.append(a + length * (10 * tau**3 - 15 * tau**4 + 6 * tau**5))
        fine_t.append(t0 + dur * tau)
        t0 += dur
    return np.concatenate(fine_s), np.concatenate(fine_t)


def fit_table(keep) -> np.ndarray:
    """Candidate B's table: per BIN-degree bin of turning angle, the median of (sample step / the pen-down's median
    step) over the pen-downs (12 points or more) of the items ``keep`` accepts."""
    angles, ratios = [], []
    for s, h, seg, arc in pen_downs(keep):
        med = np.median(seg)
        if med > 0:
            angles.append(turning(s, arc, arc[1:-1], h))
            ratios.append((seg[:-1] + seg[1:]) / 2 / med)  # the steps either side of samples 1..n-2
    a, r = np.concatenate(angles), np.concatenate(ratios)
    b = np.minimum((a // BIN).astype(int), int(180 // BIN) - 1)
    return np.array([np.median(r[b == k]) if np.any(b == k) else np.nan for k in range(int(180 // BIN))])


def table_times(path: np.ndarray, h: float, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate B: (arc positions, times), the speed at each point looked up from its turning angle."""
    arc = path_arc(path)
    u, _ = resampled(path, h)
    ang = turning(path, arc, u, h)
    speed = np.maximum(table[np.minimum((ang // BIN).astype(int), len(table) - 1)], 1e-3)
    t = np.concatenate([[0.0], np.cumsum(np.diff(u) / speed[:-1] / h)])
    return u, t


def thin_in_time(path, s_of, t_of, m, rng):
    """m points at equal time steps (a random phase), the ends kept."""
    dt = t_of[-1] / max(m - 1, 1)
    at_t = np.concatenate([[0.0], np.clip(np.arange(rng.uniform(0, 1) * dt, t_of[-1], dt), 0, t_of[-1]), [t_of[-1]]])
    at_s = np.interp(at_t, t_of, s_of)
    arc = path_arc(path)
    return np.stack([np.interp(at_s, arc, path[:, 0]), np.interp(at_s, arc, path[:, 1])], 1)


def run(name, corners, times_of, rng) -> bool:
    ok = True
    for label, spacing in SPACINGS:
        d_time, d_arc, d_cand, speed, n = [], [], [], [], 0
        for s, h, _, arc, c in corners:
            m, by_time, by_arc = thinned_both_ways(s, h, arc, c, spacing, rng)
            d_time.append(by_time)
            d_arc.append(by_arc)
            s_of, t_of = times_of(s, h)
            d_cand.append(dist_to_polyline(s[c], thin_in_time(s, s_of, t_of, m, rng)) / h)
            # the candidate's speed at the corner against its median speed (real pens: 0.43, runs/s26/corner_speed.txt)
            v = np.diff(s_of) / np.maximum(np.diff(t_of), 1e-12)
            mid = (s_of[1:] + s_of[:-1]) / 2
            near = np.abs(mid - arc[c]) <= 0.02 * h
            speed.append((v[near].mean() if near.any() else np.interp(arc[c], mid, v)) / max(np.median(v), 1e-12))
            n += 1
        tm, am, cm = np.median(d_time), np.median(d_arc), np.median(d_cand)
        passed = tm / 1.5 <= cm <= tm * 1.5
        ok &= passed
        print(f"{name} | {label}: {n} corners; time thinning median {tm:.4f} h; equal distances {am:.4f} h; "
              f"candidate {cm:.4f} h (ratio {cm / tm:.2f}, allowed {tm / 1.5:.4f}-{tm * 1.5:.4f}: "
              f"{'passes' if passed else 'fails'}); > 0.05 h: time {np.mean(np.asarray(d_time) > 0.05):.0%}, "
              f"candidate {np.mean(np.asarray(d_cand) > 0.05):.0%}; candidate's speed at the corner / its median "
              f"{np.median(speed):.2f} (real pens 0.43)")
    print(f"{name}: {'PASSES' if ok else 'FAILS'} check 2 (both samplings)")
    return ok


def main() -> None:
    which = sys.argv[1:] or ["A", "B"]
    if "A" in which:
        run("A: a stop at every sharp turn", list(sharp_corners()), minimum_jerk_times, np.random.default_rng(27))
    if "B" in which:
        writers = sorted({(i.source, i.writer) for i in unipen.split(unipen.load(unipen.default_path())).train})
        half = {w: k % 2 for k, w in enumerate(writers)}
        table = fit_table(lambda it: half[(it.source, it.writer)] == 0)
        print("B's table (speed / median speed, per 15 degrees of turning, fit half):",
              " ".join(f"{v:.2f}" for v in table))
        run("B: speed by turning angle", list(sharp_corners(lambda it: half[(it.source, it.writer)] == 1)),
            lambda s, h: table_times(s, h, table), np.random.default_rng(27))


if __name__ == "__main__":
    main()
