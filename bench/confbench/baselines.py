"""The estimates ours is compared with, each a probability per claim that its answer is true.

- **majority vote**: 1 for the answer most sources gave on the question (ties share), else 0;
- **vote share**: the share of the question's sources that gave the answer;
- **constant 0.5**;
- **Dawid-Skene**: the classic EM truth discovery (Dawid & Skene 1979) in its one-coin form:
  each source has one hidden accuracy, a wrong source picks any wrong answer alike. (The full
  confusion-matrix form needs answer labels that mean the same on every question; ours are free
  text, so the one-coin form is the one that applies.) It is unsupervised: it learns from
  agreement alone, as truth discovery does.
- **Dawid-Skene + labels**: the same EM with the reviewed questions' truth clamped, a stronger
  baseline that also uses the reviewer's verdicts (reported for information).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from confbench.world import Claim, World

Estimate = dict[Claim, float]


def majority_vote(world: World) -> Estimate:
    by_topic = _by_topic(world.claims)
    out: Estimate = {}
    for claims in by_topic.values():
        votes = Counter(c.answer for c in claims)
        top = max(votes.values())
        winners = [a for a, n in votes.items() if n == top]
        for c in claims:
            out[c] = 1.0 / len(winners) if c.answer in winners else 0.0
    return out


def vote_share(world: World) -> Estimate:
    out: Estimate = {}
    for claims in _by_topic(world.claims).values():
        votes = Counter(c.answer for c in claims)
        for c in claims:
            out[c] = votes[c.answer] / len(claims)
    return out


def constant(world: World, value: float = 0.5) -> Estimate:
    return dict.fromkeys(world.claims, value)


def dawid_skene(world: World, *, labels: bool = False, iterations: int = 100) -> Estimate:
    """One-coin Dawid-Skene EM; ``labels`` clamps the reviewed questions to their truth."""
    k = len(world.topics[0].answers)
    by_topic = _by_topic(world.claims)
    clamped = {t: world.topics[t].truth for t in by_topic if labels and world.topics[t].reviewed}
    posterior = {t: _share(claims, k) for t, claims in by_topic.items()}
    for t, truth in clamped.items():
        posterior[t] = [1.0 if a == truth else 0.0 for a in range(k)]
    accuracy: dict[str, float] = {}
    for _ in range(iterations):
        accuracy = _m_step(by_topic, posterior)
        previous = posterior
        posterior = {
            t: clamped_or(clamped, t, k) or _e_step(claims, accuracy, k)
            for t, claims in by_topic.items()
        }
        if max(_distance(previous[t], posterior[t]) for t in posterior) < 1e-7:
            break
    return {c: posterior[c.topic][c.answer] for c in world.claims}


def clamped_or(clamped: dict[int, int], topic: int, k: int) -> list[float] | None:
    if topic not in clamped:
        return None
    return [1.0 if a == clamped[topic] else 0.0 for a in range(k)]


def _m_step(
    by_topic: dict[int, list[Claim]], posterior: dict[int, list[float]]
) -> dict[str, float]:
    right: dict[str, float] = defaultdict(float)
    total: dict[str, int] = defaultdict(int)
    for t, claims in by_topic.items():
        for c in claims:
            right[c.source] += posterior[t][c.answer]
            total[c.source] += 1
    # Beta(1, 1) smoothing keeps accuracies off 0 and 1.
    return {s: (right[s] + 1.0) / (total[s] + 2.0) for s in total}


def _e_step(claims: Sequence[Claim], accuracy: dict[str, float], k: int) -> list[float]:
    logs = [0.0] * k  # a uniform prior over the candidate answers
    for c in claims:
        p = accuracy[c.source]
        for a in range(k):
            logs[a] += math.log(p) if a == c.answer else math.log((1.0 - p) / (k - 1))
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _share(claims: Sequence[Claim], k: int) -> list[float]:
    votes = Counter(c.answer for c in claims)
    return [(votes[a] + 0.1) / (len(claims) + 0.1 * k) for a in range(k)]


def _distance(a: Sequence[float], b: Sequence[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def _by_topic(claims: Sequence[Claim]) -> dict[int, list[Claim]]:
    out: dict[int, list[Claim]] = defaultdict(list)
    for c in claims:
        out[c.topic].append(c)
    return out
