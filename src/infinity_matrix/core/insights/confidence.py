"""Confidence of an insight and reliability of its sources: a pure, explainable scoring model.

A source's *reliability* is the posterior mean of a Beta distribution over "a claim of this source
is accepted", fed by feedback that is forgotten geometrically per new verdict, so that a source
that gets worse is noticed. An insight's *confidence* combines, in log-odds, a base rate per kind,
its most reliable supporting source, corroboration by other independent sources (never harmful,
with diminishing returns and a discount for correlated sources), contradicting claims on the same
topic (naive Bayes over mutually exclusive answers), evidence links, feedback on the insight
itself and its status; age then decays it with a half-life per kind. The score comes with parts
that add up exactly to it: each part is how far one step moves the probability, in a fixed order.
docs/confidence.md explains the model for users; every default lives here, named.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from infinity_matrix.errors import InvalidInput

VERDICTS = ("accepted", "rejected", "outdated")

# Beta(2, 1): a source nobody has judged yet is believed two times out of three; two verdicts
# already move it noticeably, and it takes many to reach the extremes.
PRIOR_ACCEPTED = 2.0
PRIOR_REJECTED = 1.0
DEFAULT_RELIABILITY = PRIOR_ACCEPTED / (PRIOR_ACCEPTED + PRIOR_REJECTED)
# Each new accepted or rejected verdict on a source multiplies its earlier ones by this: the last
# ~1/(1-λ) = 33 verdicts carry most of the weight. Counted in verdicts, not in time, so replaying
# the log gives the same numbers.
FORGETTING = 0.97

# Probability that an insight of this kind is right when nothing else is known about it (its
# source has no feedback yet, nobody corroborated it, nobody contradicted it).
KIND_PRIOR: dict[str, float] = {
    "pattern": 0.70,  # found by the pattern recogniser in shared code: the occurrences exist
    "decision": 0.70,
    "convention": 0.70,
    "fact": 0.65,
    "pitfall": 0.65,
    "todo": 0.60,
}
# Age after which half of the confidence is gone, per kind.
HALF_LIFE_DAYS: dict[str, float] = {
    "convention": 730.0,
    "decision": 365.0,
    "fact": 365.0,
    "pattern": 365.0,
    "pitfall": 180.0,
    "todo": 14.0,
}

# A corroborating source adds logit(r) - logit(AGREEMENT_FLOOR), never less than nothing: the
# naive-Bayes weight of an agreement when a question has about four plausible answers, so one
# whose claims are right no more often than a guess among four adds nothing by agreeing.
AGREEMENT_FLOOR = 0.25
# The k-th strongest independent group of supporters counts DIMINISHING**k of its weight.
DIMINISHING = 0.8
# Supporters that share a model (else an assistant, else an actor) err together: within such a
# group only the strongest counts fully, the others count this share.
CORRELATED_SHARE = 0.5
# Evidence links (context entries, graph entities, other insights): at most this many log-odds,
# half of it for the first link, half of the rest for the second, and so on.
EVIDENCE_MAX_LOGIT = 0.4
# Feedback on the insight itself: each verdict kind adds WEIGHT * log2(1 + count) log-odds.
FEEDBACK_LOGIT: dict[str, float] = {"accepted": 2.0, "rejected": -2.0, "outdated": -1.0}
STATUS_LOGIT: dict[str, float] = {"active": 0.0, "superseded": -0.3, "outdated": -3.0}

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class SourceTally:
    """Feedback weights of one source (accepted and rejected faded by ``update_tally``) and the
    number of verdicts it ever got. The empty tally is a source nobody has judged."""

    accepted: float = 0.0
    rejected: float = 0.0
    outdated: float = 0.0
    count: int = 0
    # How much fading the tally has seen: the sum of -ln(fade) over its accepted and rejected
    # verdicts. A verdict folded when the clock read c has exp(c - clock) of its weight left,
    # which is what ``retract_verdict`` takes back.
    clock: float = 0.0


@dataclass(frozen=True, slots=True)
class Support:
    """One distinct source that asserted an insight (its author or a corroborator), and when."""

    source: str
    reliability: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything the score of one insight depends on.

    ``supports`` are the insight's own sources, its author and its corroborators, in any order
    (a source key repeated counts once). ``rivals`` holds, for each insight that contradicts it
    (same topic, different answer, or linked by ``contradicts``) and is not outdated, that
    insight's supports, whether it is active or superseded. ``accepted``, ``rejected`` and
    ``outdated`` count the feedback on this insight; ``evidence`` its evidence links.
    """

    kind: str
    supports: Sequence[Support]
    rivals: Sequence[Sequence[Support]]
    evidence: int
    accepted: int
    rejected: int
    outdated: int
    created_at: datetime
    now: datetime
    status: str = "active"


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    value: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Score:
    """A probability in [0, 1] and the parts it is made of; ``sum(parts) == value``."""

    value: float
    parts: tuple[Part, ...]

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "parts": [p.to_json() for p in self.parts]}


def update_tally(tally: SourceTally, verdict: str, weight: float = 1.0) -> SourceTally:
    """Fold one verdict of ``weight`` in [0, 1] (1 = a full verdict) into a source's tally.

    An accepted or rejected verdict first fades the earlier ones by ``1 - weight * (1 -
    FORGETTING)`` (``FORGETTING`` for a full verdict). This linear fade keeps each weight below
    ``1 / (1 - FORGETTING)``, which is what makes a rejection never raise a reliability (nor an
    acceptance lower it). ``outdated`` is only counted: the source was right when it spoke, so
    it neither fades nor moves the reliability. Raises ``InvalidInput``
    (``insight.invalid_verdict``) for another verdict.
    """
    if verdict not in VERDICTS:
        raise InvalidInput(f"unknown verdict {verdict!r}", code="insight.invalid_verdict")
    w = min(1.0, max(0.0, weight))
    if verdict == "outdated":
        return replace(tally, outdated=tally.outdated + w, count=tally.count + 1)
    fade = 1.0 - w * (1.0 - FORGETTING)
    accepted, rejected = tally.accepted * fade, tally.rejected * fade
    if verdict == "accepted":
        accepted += w
    else:
        rejected += w
    clock = tally.clock - math.log(fade)
    return SourceTally(accepted, rejected, tally.outdated, tally.count + 1, clock)


def retract_verdict(
    tally: SourceTally, verdict: str, folded_at: float, weight: float = 1.0
) -> SourceTally:
    """Take back a verdict of ``weight`` that ``update_tally`` folded in earlier, when it left
    the tally's clock at ``folded_at``: what is left of it after the fading since is removed.

    Used when a judgement is revised (an accepted claim is rejected later, or the other way
    round), so that a source is judged once per claim. The fading the verdict caused on older
    verdicts stays (the clock counts verdicts given, not kept). Taking back an acceptance never
    raises a reliability, nor does taking back a rejection lower it; weights stay >= 0 and the
    count drops by one. Raises ``InvalidInput`` (``insight.invalid_verdict``) for another verdict.
    """
    if verdict not in VERDICTS:
        raise InvalidInput(f"unknown verdict {verdict!r}", code="insight.invalid_verdict")
    w = min(1.0, max(0.0, weight))
    count = max(0, tally.count - 1)
    if verdict == "outdated":
        return replace(tally, outdated=max(0.0, tally.outdated - w), count=count)
    left = w * math.exp(min(0.0, folded_at - tally.clock))
    if verdict == "accepted":
        return replace(tally, accepted=max(0.0, tally.accepted - left), count=count)
    return replace(tally, rejected=max(0.0, tally.rejected - left), count=count)


def reliability(tally: SourceTally) -> float:
    """Posterior mean of Beta(PRIOR_ACCEPTED + accepted, PRIOR_REJECTED + rejected)."""
    a = PRIOR_ACCEPTED + tally.accepted
    return a / (a + PRIOR_REJECTED + tally.rejected)


def assess(a: Assessment) -> Score:
    """Score one insight; see the module docstring and docs/confidence.md.

    Raises ``InvalidInput`` (``insight.invalid_kind``) for an unknown kind.
    """
    if a.kind not in KIND_PRIOR:
        raise InvalidInput(f"unknown kind {a.kind!r}", code="insight.invalid_kind")
    steps: list[tuple[str, float, str]] = []  # (name, log-odds after the step, detail)
    logit = _logit(KIND_PRIOR[a.kind])
    steps.append(("prior", logit, f"{a.kind}: base rate of a claim from an unjudged source"))
    supports = _distinct(a.supports)
    lead, lead_term, corroboration = _support_terms(supports)
    logit += lead_term
    steps.append(("source", logit, _source_detail(lead)))
    logit += corroboration
    steps.append(("corroboration", logit, _corroboration_detail(len(supports))))
    rival_logits = [_claim_logit(a.kind, r) for r in a.rivals]
    logit -= math.log1p(sum(math.exp(min(x, 50.0)) for x in rival_logits))
    steps.append(("rivals", logit, _rivals_detail(rival_logits)))
    logit += EVIDENCE_MAX_LOGIT * (1.0 - 0.5 ** max(0, a.evidence))
    steps.append(("evidence", logit, _plural(max(0, a.evidence), "evidence link")))
    logit += _feedback_term(a)
    steps.append(("feedback", logit, _feedback_detail(a)))
    logit += STATUS_LOGIT.get(a.status, 0.0)
    steps.append(("status", logit, _STATUS_DETAIL.get(a.status, a.status)))
    names = [name for name, _, _ in steps]
    details = [detail for _, _, detail in steps]
    probabilities = [_sigmoid(x) for _, x, _ in steps]
    age_days, factor = _age(a)
    names.append("age")
    details.append(_age_detail(a.kind, age_days, factor))
    probabilities.append(probabilities[-1] * factor)
    return _telescope(names, details, probabilities)


def _claim_logit(kind: str, supports: Sequence[Support]) -> float:
    """Log-odds of a claim from its kind and its sources alone (how a rival is weighed)."""
    _, lead_term, corroboration = _support_terms(_distinct(supports))
    return _logit(KIND_PRIOR[kind]) + lead_term + corroboration


def survival(kind: str, age_days: float) -> float:
    """Share of the confidence left after ``age_days``: 2 ** (-age / half-life of the kind)."""
    return float(0.5 ** (max(0.0, age_days) / HALF_LIFE_DAYS[kind]))


def _support_terms(supports: Sequence[Support]) -> tuple[Support | None, float, float]:
    """The lead source, its log-odds term, and what the others add by corroborating.

    Corroboration is the diminishing, correlation-discounted sum of every supporter's weight
    minus the lead's own weight, so adding a supporter never lowers the total (even one that
    becomes the new lead): see test_more_independent_corroboration_never_lowers_confidence.
    """
    if not supports:
        return None, 0.0, 0.0
    lead = max(supports, key=lambda s: (s.reliability, s.source))
    lead_term = _logit(lead.reliability) - _logit(DEFAULT_RELIABILITY)
    groups: dict[str, list[float]] = {}
    for s in supports:
        groups.setdefault(_cluster(s.source), []).append(_weight(s.reliability))
    group_weights = sorted(
        (
            ws[0] + CORRELATED_SHARE * sum(ws[1:])
            for ws in (sorted(g, reverse=True) for g in groups.values())
        ),
        reverse=True,
    )
    total = sum(w * DIMINISHING**k for k, w in enumerate(group_weights))
    return lead, lead_term, max(0.0, total - _weight(lead.reliability))


def _weight(r: float) -> float:
    return max(0.0, _logit(r) - _logit(AGREEMENT_FLOOR))


def _cluster(source: str) -> str:
    """Sources sharing a model err together; else sharing an assistant; else the same actor."""
    actor, _, rest = source.partition("/")
    assistant, _, model = rest.partition("/")
    if model and model != "-":
        return "model:" + model
    if assistant and assistant != "-":
        return "assistant:" + assistant
    return "actor:" + actor


def _distinct(supports: Sequence[Support]) -> list[Support]:
    """One support per source key (its most reliable reading): a source cannot vote twice."""
    best: dict[str, Support] = {}
    for s in supports:
        if s.source not in best or s.reliability > best[s.source].reliability:
            best[s.source] = s
    return list(best.values())


def _feedback_term(a: Assessment) -> float:
    counts = {"accepted": a.accepted, "rejected": a.rejected, "outdated": a.outdated}
    return sum(FEEDBACK_LOGIT[v] * math.log2(1 + max(0, n)) for v, n in counts.items())


def _age(a: Assessment) -> tuple[float, float]:
    """Days since the insight was last asserted (recorded or corroborated) and what is left."""
    latest = max([a.created_at, *(s.at for s in a.supports)])
    days = max(0.0, (a.now - latest).total_seconds() / 86400.0)
    return days, survival(a.kind, days)


def _telescope(names: list[str], details: list[str], probabilities: list[float]) -> Score:
    """Parts are the first probability and each step's change, so they sum to the last one."""
    values = [probabilities[0]] + [b - a for a, b in itertools.pairwise(probabilities)]
    # Rounding may leave the sum a hair outside [0, 1]; the last part absorbs it.
    for _ in range(3):
        total = sum(values)
        if 0.0 <= total <= 1.0:
            break
        values[-1] -= total - min(1.0, max(0.0, total))
    parts = tuple(Part(n, v, d) for n, v, d in zip(names, values, details, strict=True))
    return Score(value=sum(p.value for p in parts), parts=parts)


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}" if n else f"no {noun}"


def _source_detail(lead: Support | None) -> str:
    if lead is None:
        return f"unknown source: reliability {DEFAULT_RELIABILITY:.2f} (prior)"
    return f"most reliable source {lead.source}: reliability {lead.reliability:.2f}"


def _corroboration_detail(n: int) -> str:
    if n <= 1:
        return "no other source"
    return f"{_plural(n - 1, 'other source')} ({n} distinct in total)"


def _rivals_detail(rival_logits: list[float]) -> str:
    if not rival_logits:
        return "no contradicting claim"
    strongest = _sigmoid(max(rival_logits))
    return f"{_plural(len(rival_logits), 'contradicting claim')} (strongest alone: {strongest:.2f})"


def _feedback_detail(a: Assessment) -> str:
    return f"accepted {a.accepted}, rejected {a.rejected}, outdated {a.outdated}"


_STATUS_DETAIL = {
    "active": "active",
    "superseded": "superseded by a newer claim on the same topic",
    "outdated": "marked outdated",
}


def _age_detail(kind: str, age_days: float, factor: float) -> str:
    return (
        f"last asserted {age_days:.0f} days ago, {kind} half-life "
        f"{HALF_LIFE_DAYS[kind]:.0f} days: x{factor:.2f}"
    )
