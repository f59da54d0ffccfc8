"""A seeded world: questions with one true answer among a few candidates, sources of hidden
reliability asserting answers over time, and a trusted reviewer who judges some questions.

Source behaviours:

- **honest**: right most of the time;
- **noisy**: right a little more often than not;
- **overconfident**: asserts a lot, is mostly wrong, and states a confidence of 0.95 (which the
  hub keeps but does not believe);
- **colluding**: a group that shows up on the same questions and, most of the time, all assert
  the same planted false answer;
- **degrading**: right nearly always until a change point, mostly wrong after it.

Wrong answers of independent sources are not uniform either: each question has a "common
misconception" that most wrong sources pick, so agreement alone is not proof.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

ANSWERS_PER_TOPIC = 4
# How a wrong, independent source picks among the wrong answers (the first is the misconception).
DISTRACTOR_WEIGHTS = (0.6, 0.25, 0.15)
STATED_CONFIDENCE = {"overconfident": 0.95}

# (behaviour, how many, accuracy range, share of questions answered)
POPULATION: tuple[tuple[str, int, tuple[float, float], float], ...] = (
    ("honest", 5, (0.85, 0.95), 0.30),
    ("noisy", 6, (0.55, 0.70), 0.30),
    ("overconfident", 2, (0.35, 0.45), 0.60),
    ("colluding", 4, (0.80, 0.80), 0.35),  # accuracy when the group does not plant
    ("degrading", 3, (0.90, 0.95), 0.30),
)
COLLUSION_RATE = 0.7  # share of the group's questions on which it plants the false answer
DEGRADED_ACCURACY = 0.30
REVIEWED_SHARE = 0.30  # questions the trusted reviewer judges (the others are held out)

# Made-up words for answers: no near-duplicate detector confuses two answers built from them.
_SYLLABLES = ("ba", "ce", "di", "fo", "gu", "ka", "le", "mi", "no", "pu", "ra", "se", "ti", "vo")
_WORDS = tuple(a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES)


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # also its API key's name, its assistant and its model
    behaviour: str
    accuracy: float
    volume: float
    degrades_at: float | None = None  # time (0-1) after which it is mostly wrong

    def accuracy_at(self, t: float) -> float:
        if self.degrades_at is not None and t >= self.degrades_at:
            return DEGRADED_ACCURACY
        return self.accuracy


@dataclass(frozen=True, slots=True)
class Topic:
    key: str  # the insight topic, e.g. "bench/q0042"
    question: str
    answers: tuple[str, ...]  # candidate answer texts
    truth: int
    reviewed: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """``source`` asserts answer ``answer`` of ``topic`` at time ``t`` (0-1)."""

    t: float
    source: str
    topic: int
    answer: int


@dataclass(frozen=True, slots=True)
class Review:
    """At time ``t`` the trusted reviewer judges every answer asserted so far on ``topic``."""

    t: float
    topic: int


def verdicts(asserted: dict[int, int], truth: int, reviewer: str) -> list[tuple[int, str]]:
    """The reviewer's (insight id, verdict) pairs for a question whose answers ``asserted`` maps
    to insight ids.

    ``all`` (the natural reviewer, the default) accepts the right answer and rejects each wrong
    one explicitly. ``accept`` only accepts the right answer when it was asserted, which by the
    hub's rule already judges every other answer false, and rejects the answers only when none
    is right. The hub judges each source once per insight, so both move the same tallies (in
    a slightly different order); the rejected answers' own feedback counters differ.
    """
    if reviewer == "accept" and truth in asserted:
        return [(asserted[truth], "accepted")]
    return [
        (insight, "accepted" if answer == truth else "rejected")
        for answer, insight in sorted(asserted.items())
    ]


@dataclass(slots=True)
class World:
    sources: list[Source]
    topics: list[Topic]
    timeline: list[Claim | Review] = field(default_factory=list)

    @property
    def claims(self) -> list[Claim]:
        return [e for e in self.timeline if isinstance(e, Claim)]

    def is_true(self, claim: Claim) -> bool:
        return self.topics[claim.topic].truth == claim.answer


def generate(seed: int, topics: int, without: Sequence[str] = ()) -> World:
    """The world of ``seed``; ``without`` leaves out source behaviours (e.g. ``colluding``)."""
    rng = random.Random(seed)
    sources = [s for s in _sources(rng) if s.behaviour not in without]
    world = World(sources, [_topic(rng, i) for i in range(topics)])
    for i, topic in enumerate(world.topics):
        start = rng.random()
        claims = _claims(rng, world.sources, topic, i, start)
        world.timeline += claims
        if topic.reviewed and claims:
            world.timeline.append(Review(max(c.t for c in claims) + rng.expovariate(200), i))
    world.timeline.sort(key=lambda e: (e.t, isinstance(e, Review)))
    return world


def _sources(rng: random.Random) -> list[Source]:
    sources = []
    for behaviour, count, (low, high), volume in POPULATION:
        for n in range(count):
            degrades = rng.uniform(0.3, 0.6) if behaviour == "degrading" else None
            name = f"{behaviour}-{n + 1}"
            sources.append(Source(name, behaviour, rng.uniform(low, high), volume, degrades))
    return sources


def _topic(rng: random.Random, i: int) -> Topic:
    words = rng.sample(_WORDS, 6 * ANSWERS_PER_TOPIC)
    answers = tuple(
        " ".join(words[6 * a : 6 * a + 6]).capitalize() + "." for a in range(ANSWERS_PER_TOPIC)
    )
    return Topic(
        key=f"bench/q{i:05d}",
        question=f"Question {i}",
        answers=answers,
        truth=rng.randrange(ANSWERS_PER_TOPIC),
        reviewed=rng.random() < REVIEWED_SHARE,
    )


def _claims(
    rng: random.Random, sources: list[Source], topic: Topic, i: int, start: float
) -> list[Claim]:
    wrong = [a for a in range(ANSWERS_PER_TOPIC) if a != topic.truth]
    rng.shuffle(wrong)  # wrong[0] is this question's common misconception
    colluders = [s for s in sources if s.behaviour == "colluding"]
    group_joins = rng.random() < colluders[0].volume if colluders else False
    planted = rng.choice(wrong) if rng.random() < COLLUSION_RATE else None
    claims = []
    for s in sources:
        if s.behaviour == "colluding":
            if not group_joins or rng.random() > 0.9:
                continue
        elif rng.random() > s.volume:
            continue
        t = min(1.0, start + rng.expovariate(50))
        if s.behaviour == "colluding" and planted is not None:
            answer = planted
        elif rng.random() < s.accuracy_at(t):
            answer = topic.truth
        else:
            answer = rng.choices(wrong, weights=DISTRACTOR_WEIGHTS)[0]
        claims.append(Claim(t, s.name, i, answer))
    return claims
