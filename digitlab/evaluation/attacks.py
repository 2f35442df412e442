"""L-infinity adversarial attacks (FGSM, PGD) on a model's logits, and accuracy-vs-epsilon curves.

Shared by evaluation/attack.py, the leaderboard, adversarial training (``digitlab.training.adversarial``,
which trains on ``perturb``'s examples) and the app.  Everything works on model inputs: (N, 28, 28)
float32 in [0, 1], light ink on black (the output of ``digitlab.preprocess``).

    FGSM  (Goodfellow et al. 2015):  x' = clip(x + eps * sign(grad_x loss))
    PGD   (Madry et al. 2018):        random start in the eps-ball, then ``steps`` signed-gradient
                                      steps of ``step_size``, each projected back onto the eps-ball
                                      and onto [0, 1]

The loss is the cross-entropy of the model's *logits* (the Dense layer named ``logits`` that every
builder in ``digitlab.models`` has), not of the saturated softmax: a confident softmax rounds to
1.0 in float32 and its gradient vanishes, which would make a model look robust when it is not.
Models without a ``logits`` layer fall back to the log of their probabilities (or to their raw
outputs when those already are logits).  Gradients come from ``tf.GradientTape`` on a traced
forward pass; ``model.predict`` (numpy, no gradient) is never used.

An evaluation attack keeps, for each digit, the first iterate that is misclassified, so the
accuracy it reports is the accuracy under the strongest point PGD visited, not only its last one.
"""

from __future__ import annotations

import weakref

import numpy as np

from digitlab import memory
from digitlab.models import adapter
from digitlab.report.progress import Progress
from digitlab.serving import abstain

# TensorFlow is imported by the functions that run a model, not here: the leaderboard's table and the app's pages
# read this module's names (headline_key, PGD_STEPS) in a server that never imports TensorFlow.

EPS_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # default epsilons of accuracy-vs-eps curves
PGD_STEPS = 40  # the PGD-40 of Madry et al.'s MNIST challenge
BATCH = memory.ATTACK_BATCH  # images per attack batch



def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s rule of thumb: 2.5 * eps / steps, so the walk can cross the ball and back."""
    return 2.5 * eps / max(1, steps)


# ----------------------------------------------------------------------------- the attack itself


def perturb(logits_fn, x, y, eps, step_size, steps: int, random_start: bool = True, seed=None, keep_first_success: bool = False,
            loss: str = "ce"):
    """Signed-gradient L-inf attack on a batch of tensors; FGSM is ``steps=1, step_size=eps, random_start=False``.

    logits_fn: model-input tensor -> (B, 10) logits (differentiable)
    x: (B, ...) float32 in [0, 1]; y: (B,) int labels; eps, step_size: scalars (may be tensors)
    steps: a Python int (the loop is unrolled) or a scalar int tensor (a tf.while_loop)
    seed: None (TensorFlow's global generator, for training) or a (2,) int tensor (stateless, reproducible)
    keep_first_success: return, per image, the first iterate that is misclassified (evaluation);
    otherwise the last iterate (training).  loss: "ce" (cross-entropy of the logits, Madry et al.) or "margin"
    (best other logit minus the true one, Carlini & Wagner: it never saturates, a check against gradient masking).
    Result: x_adv with |x_adv - x| <= eps and 0 <= x_adv <= 1.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int64)
    eps = tf.cast(eps, tf.float32)
    step_size = tf.cast(step_size, tf.float32)
    lo = tf.maximum(x - eps, 0.0)
    hi = tf.minimum(x + eps, 1.0)
    if random_start:
        if seed is None:
            noise = tf.random.uniform(tf.shape(x), -1.0, 1.0)
        else:
            noise = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)
        x_adv = tf.clip_by_value(x + eps * noise, lo, hi)
    else:
        x_adv = x
    per_image = [-1] + [1] * (x.shape.rank - 1)  # reshapes a (B,) mask to broadcast; a static shape keeps the batch size
    # known, which tf.while_loop needs when the batch is fixed (one image: "enters the loop with shape (1, ...)")

    def step(x_adv, best, fooled):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = logits_fn(x_adv)
            if loss == "margin":
                true = tf.gather(logits, y, batch_dims=1)
                other = tf.reduce_max(logits - 1e9 * tf.one_hot(y, tf.shape(logits)[-1]), axis=1)
                objective = tf.reduce_sum(other - true)
            else:
                objective = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grad = tape.gradient(objective, x_adv)
        if keep_first_success:
            wrong = tf.argmax(logits, 1) != y
            best = tf.where(tf.reshape(wrong & ~fooled, per_image), x_adv, best)
            fooled = fooled | wrong
        return tf.clip_by_value(x_adv + step_size * tf.sign(grad), lo, hi), best, fooled

    state = (x_adv, x_adv, tf.zeros(tf.shape(y), tf.bool))
    if isinstance(steps, int):  # unrolled: works inside Keras' train/test functions, where AutoGraph is off
        for _ in range(steps):
            state = step(*state)
    else:
        state = tf.while_loop(lambda i, *s: i < steps, lambda i, *s: (i + 1, *step(*s)), (tf.constant(0), *state))[1:]
    x_adv, best, fooled = state
    if not keep_first_success:
        return x_adv
    return tf.where(tf.reshape(fooled, per_image), best, x_adv)


class Attacker:
    """FGSM / PGD against one model on numpy batches; the attack loop is traced once per step count.

    ``attacker(model)`` returns a cached instance, so pages and scripts share the traced functions.
    """

    def __init__(self, model):
        import tensorflow as tf

        self.model = adapter.keras_model(model)
        self.logits_fn, self.input_shape, self.source = adapter.logits_function(self.model)
        fn = self.logits_fn

        @tf.function(reduce_retracing=True)
        def run(x, y, eps, step_size, steps, seed, random_start: bool, loss: str):
            return perturb(fn, x, y, eps, step_size, steps, random_start, seed, keep_first_success=True, loss=loss)

        @tf.function(reduce_retracing=True)
        def logits(x):
            return fn(x, training=False)

        self._run = run
        self._logits = logits

    def logits(self, x: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        """(N, 28, 28) inputs -> (N, 10) logits (or their stand-in, see ``source``)."""
        import tensorflow as tf

        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        out = [self._logits(tf.constant(x[i : i + batch_size].reshape(-1, *self.input_shape))).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 10), np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(1)

    def attack(self, x: np.ndarray, y: np.ndarray | None, eps: float, steps: int = PGD_STEPS, step_size: float | None = None,
               random_start: bool = True, restarts: int = 1, seed: int = 0, batch_size: int = BATCH, progress: Progress = None,
               loss: str = "ce") -> np.ndarray:
        """(N, 28, 28) inputs -> adversarial (N, 28, 28) inputs.  y None attacks the model's own prediction.

        With ``restarts`` > 1, each restart (a new random start) only works on the digits
        that are still classified correctly.
        """
        import tensorflow as tf

        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        y = self.predict(x) if y is None else np.asarray(y, np.int64).reshape(-1)
        if eps <= 0 or len(x) == 0:
            return x.copy()
        step_size = default_step_size(eps, steps) if step_size is None else step_size
        out = x.copy()
        todo = np.arange(len(x))
        restarts = max(1, restarts) if random_start else 1
        total = restarts * len(x)
        done = 0
        for r in range(restarts):
            for b, i in enumerate(range(0, len(todo), batch_size)):
                idx = todo[i : i + batch_size]
                xb = tf.constant(x[idx].reshape(-1, *self.input_shape))
                seed_t = tf.constant([seed * 1000 + r, b], tf.int64)
                adv = self._run(xb, tf.constant(y[idx]), tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32),
                                tf.constant(steps), seed_t, bool(random_start), loss)
                out[idx] = adv.numpy().reshape(-1, 28, 28)
                done += len(idx)
                if progress:
                    progress(min(1.0, done / total), f"eps {eps:g}: {done}/{total} images")
            if r + 1 < restarts:
                todo = todo[self.predict(out[todo]) == y[todo]]
                done = (r + 1) * len(x) + (len(x) - len(todo))  # finished digits count as done
                if len(todo) == 0:
                    break
        if progress:
            progress(1.0, f"eps {eps:g}: done")
        return out


_ATTACKERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attacker(model) -> Attacker:
    """The cached ``Attacker`` of a model (keras.Model, ModelEntry or Classifier)."""
    m = adapter.keras_model(model)
    if m not in _ATTACKERS:
        _ATTACKERS[m] = Attacker(m)
    return _ATTACKERS[m]


# ----------------------------------------------------------------------------- public, page-friendly functions


def fgsm(model, x: np.ndarray, y: np.ndarray | None = None, eps: float = 0.1, batch_size: int = BATCH, progress: Progress = None) -> np.ndarray:
    """Fast gradient sign method: one step of size eps from x.  (N, 28, 28) -> (N, 28, 28) in [0, 1]."""
    return attacker(model).attack(x, y, eps, steps=1, step_size=eps, random_start=False, batch_size=batch_size, progress=progress)


def pgd(model, x: np.ndarray, y: np.ndarray | None = None, eps: float = 0.3, steps: int = PGD_STEPS, step_size: float | None = None,
        random_start: bool = True, restarts: int = 1, seed: int = 0, batch_size: int = BATCH, progress: Progress = None,
        loss: str = "ce") -> np.ndarray:
    """Projected gradient descent (L-inf) with a random start; step_size defaults to 2.5 * eps / steps;
    loss "ce" (default) or "margin" (see ``perturb``)."""
    return attacker(model).attack(x, y, eps, steps, step_size, random_start, restarts, seed, batch_size, progress, loss)


def run_attack(model, x, y, attack: str, eps: float, steps: int = PGD_STEPS, restarts: int = 1, seed: int = 0, progress: Progress = None) -> np.ndarray:
    """By name: "fgsm", "pgd" (cross-entropy) or "pgd_margin" (PGD on the logit margin)."""
    if attack == "fgsm":
        return fgsm(model, x, y, eps, progress=progress)
    if attack in ("pgd", "pgd_margin"):
        return pgd(model, x, y, eps, steps=steps, restarts=restarts, seed=seed, progress=progress, loss="margin" if attack == "pgd_margin" else "ce")
    raise ValueError(f"unknown attack {attack!r}: 'fgsm', 'pgd' or 'pgd_margin'")


def correct_under_attack(model, x: np.ndarray, y: np.ndarray, attack: str, eps: float, steps: int = PGD_STEPS,
                         restarts: int = 1, seed: int = 0, progress: Progress = None) -> np.ndarray:
    """(N,) bool: which of the (N, 28, 28) inputs are still classified as ``y`` after the attack."""
    adv = run_attack(model, x, y, attack, eps, steps, restarts, seed, progress)
    return attacker(model).predict(adv) == np.asarray(y)


def accuracy_under_attack(model, x: np.ndarray, y: np.ndarray, attack: str, eps: float, steps: int = PGD_STEPS,
                          restarts: int = 1, seed: int = 0, progress: Progress = None) -> float:
    """Fraction of (N, 28, 28) inputs still classified as ``y`` after the attack."""
    return float(correct_under_attack(model, x, y, attack, eps, steps, restarts, seed, progress).mean())


def accuracy_vs_eps(model, x: np.ndarray, y: np.ndarray, eps_list=EPS_GRID, attack: str = "pgd", steps: int = PGD_STEPS,
                    restarts: int = 1, seed: int = 0, progress: Progress = None, masks: dict | None = None) -> dict:
    """Accuracy under ``attack`` for each epsilon: {"attack", "steps", "eps": [...], "accuracy": [...], "n"}.
    ``masks``: a dict that receives {eps: (N,) bool still-correct} (for ``sanity``'s worst case)."""
    eps_list = [float(e) for e in eps_list]
    acc = []
    for k, eps in enumerate(eps_list):
        sub = None if progress is None else (lambda f, msg, k=k: progress((k + f) / len(eps_list), f"{attack} {msg}"))
        correct = correct_under_attack(model, x, y, attack, eps, steps, restarts, seed, sub)
        if masks is not None:
            masks[eps] = correct
        acc.append(float(correct.mean()))
    return {"attack": attack, "steps": 1 if attack == "fgsm" else steps, "restarts": 1 if attack == "fgsm" else restarts,
            "eps": eps_list, "accuracy": acc, "n": int(len(x))}


def sanity(model, x: np.ndarray, y: np.ndarray, curves: list[dict], pgd_correct: np.ndarray | None = None, eps: float = 0.3,
           steps: int = PGD_STEPS, restarts: int = 1, seed: int = 0, transfer_from=None, progress: Progress = None) -> dict:
    """Is the robustness measured real, or gradient masking?  The checks of Carlini et al. 2019 ("On
    evaluating adversarial robustness") and Athalye et al. 2018 that a masked model fails, on the
    digits of ``curves`` (``accuracy_vs_eps`` results, FGSM and PGD):

      monotone in eps    no curve's accuracy rises with eps (by more than one digit in 500: PGD's random start)
      pgd below fgsm     at every eps both curves share, the iterative attack does at least as well as one step
      fgsm 0.3 below 0.1 a bigger step of the same attack does not do worse (masking's signature)
      margin agrees      PGD on the logit margin (another loss) at ``eps`` within 2 points (5 digits when
                         fewer than 250) of cross-entropy PGD (``pgd_correct``, the PGD curve's digits at
                         ``eps``); the worst case per digit over both is reported
      transfer weaker    PGD examples made on another model (``transfer_from``, black box) at ``eps`` fool
                         this one less than its own gradients do

    Returns {"checks": {name: {"passed", "detail"}}, "passed", "pgd_margin_eps…", "worst_case_eps…", "transfer"}."""
    y = np.asarray(y)
    tol = max(1.0 / len(y), 0.002)
    checks: dict[str, dict] = {}
    rises = [f"{c['attack']} {a:.2%} at eps {e0:g} -> {b:.2%} at {e1:g}" for c in curves
             for e0, e1, a, b in zip(c["eps"], c["eps"][1:], c["accuracy"], c["accuracy"][1:]) if b > a + tol]
    checks["monotone_in_eps"] = {"passed": not rises, "detail": "; ".join(rises) or "every curve falls or holds as eps grows"}
    by = {c["attack"]: dict(zip(c["eps"], c["accuracy"])) for c in curves}
    shared = sorted(set(by.get("fgsm", {})) & set(by.get("pgd", {})))
    worse = [f"eps {e:g}: PGD {by['pgd'][e]:.2%} > FGSM {by['fgsm'][e]:.2%}" for e in shared if by["pgd"][e] > by["fgsm"][e] + tol]
    checks["pgd_below_fgsm"] = {"passed": bool(shared) and not worse,
                                "detail": "; ".join(worse) or f"PGD <= FGSM at eps {', '.join(f'{e:g}' for e in shared)}"}
    fg = by.get("fgsm", {})
    if 0.1 in fg and 0.3 in fg:
        checks["fgsm_0.3_below_0.1"] = {"passed": fg[0.3] <= fg[0.1] + tol, "detail": f"FGSM eps 0.3 {fg[0.3]:.2%}, eps 0.1 {fg[0.1]:.2%}"}
    out: dict = {"eps": eps, "n": int(len(y))}
    margin = correct_under_attack(model, x, y, "pgd_margin", eps, steps, restarts, seed, progress)
    out[headline_key("pgd_margin", eps, steps)] = float(margin.mean())
    if pgd_correct is not None:
        worst = margin & np.asarray(pgd_correct, bool)
        out[f"worst_case_eps{eps:g}"] = float(worst.mean())
        checks["margin_agrees"] = {"passed": abs(float(margin.mean()) - float(np.mean(pgd_correct))) <= max(0.02, 5 / len(y)),
                                   "detail": f"PGD (margin) {margin.mean():.2%}, PGD (cross-entropy) {np.mean(pgd_correct):.2%}, "
                                             f"worst case per digit {worst.mean():.2%}"}
    if transfer_from is not None:
        src = attacker(transfer_from)
        adv = pgd(transfer_from, x, y, eps, steps=steps, seed=seed)
        on_target = float((attacker(model).predict(adv) == y).mean())
        white = float(np.mean(pgd_correct)) if pgd_correct is not None else by.get("pgd", {}).get(eps)
        out["transfer"] = {"source": getattr(transfer_from, "name", str(src.source)), "accuracy": on_target,
                           "source_accuracy": float((src.predict(adv) == y).mean()), "white_box_accuracy": white}
        if white is not None:
            checks["transfer_weaker"] = {"passed": on_target + tol >= white,
                                         "detail": f"transfer from {out['transfer']['source']} {on_target:.2%}, white box {white:.2%}"}
    out["checks"] = checks
    out["passed"] = all(c["passed"] for c in checks.values())
    return out


HEADLINE = (("fgsm", 0.1), ("fgsm", 0.3), ("pgd", 0.1), ("pgd", 0.3))  # the points quoted in cards and the leaderboard


def headline_key(attack: str, eps: float, steps: int = PGD_STEPS) -> str:
    """The name of a headline figure: "fgsm_eps0.1", "pgd40_eps0.3", "pgd40_margin_eps0.3"."""
    if attack == "fgsm":
        return f"fgsm_eps{eps:g}"
    return f"pgd{steps}{'_margin' if attack == 'pgd_margin' else ''}_eps{eps:g}"


def headline(model, x: np.ndarray, y: np.ndarray, steps: int = PGD_STEPS, restarts: int = 1, seed: int = 0,
             points=HEADLINE, curves: list[dict] | None = None, progress: Progress = None) -> dict:
    """Clean accuracy and accuracy under each (attack, eps) in ``points`` on (N, 28, 28) inputs:
    {"n", "pgd_steps", "restarts", "clean_accuracy", "fgsm_eps0.1": ..., "pgd40_eps0.3": ...}.
    Points already in ``curves`` (from ``accuracy_vs_eps`` on the same digits) are taken from there."""
    y = np.asarray(y)
    out = {"n": int(len(x)), "pgd_steps": steps, "restarts": restarts,
           "clean_accuracy": float((attacker(model).predict(x) == y).mean())}
    known = {(c["attack"], e): acc for c in (curves or []) for e, acc in zip(c["eps"], c["accuracy"])}
    for k, (attack, eps) in enumerate(points):
        sub = None if progress is None else (lambda f, msg, k=k, a=attack: progress((k + f) / len(points), f"{a} {msg}"))
        acc = known.get((attack, float(eps)))
        out[headline_key(attack, eps, steps)] = acc if acc is not None else accuracy_under_attack(model, x, y, attack, eps, steps, restarts, seed, sub)
    return out


def attack_one(model, image: np.ndarray, eps_list=EPS_GRID, attack: str = "pgd", steps: int = PGD_STEPS, seed: int = 0) -> list[dict]:
    """One (28, 28) input (e.g. the user's drawing) attacked at growing eps, against its own prediction.

    Returns [{"eps", "image" (28, 28) float32, "label", "confidence", "probabilities" (10,)}, ...].
    """
    a = attacker(model)
    image = np.asarray(image, np.float32).reshape(1, 28, 28)
    target = a.predict(image)
    out = []
    for eps in eps_list:
        adv = run_attack(model, image, target, attack, float(eps), steps, seed=seed)
        z = a.logits(adv)[0].astype(np.float64)
        p = abstain.softmax(z)
        out.append({"eps": float(eps), "image": adv[0], "label": int(p.argmax()), "confidence": float(p.max()), "probabilities": p.astype(np.float32)})
    return out
