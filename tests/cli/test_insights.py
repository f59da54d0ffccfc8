"""``imx insight`` and ``imx retrieve`` against a real hub."""

from __future__ import annotations

from pathlib import Path

from tests.cli.harness import Imx


def test_an_insight_is_added_listed_shown_judged_and_counted(imx: Imx, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("The staging database listens on 5433, not the default 5432.\n")
    imx.ok("ctx", "put", "notes/staging.md", "Staging runs on the small VM.")

    added = imx.json(
        "insight",
        "add",
        "Staging database port is 5433",
        "--kind",
        "fact",
        "--body-file",
        str(body),
        "--tag",
        "db",
        "--topic",
        "db/staging-port",
        "--evidence",
        "context:notes/staging.md",
        "--assistant",
        "claude",
        "--model",
        "claude-sonnet-5",
    )
    insight_id = added["insight"]["id"]
    assert added["outcome"] == "recorded"
    assert added["insight"]["evidence"] == [{"type": "context", "ref": "notes/staging.md"}]

    listed = imx.json("insight", "ls", "--kind", "fact")
    assert [i["id"] for i in listed] == [insight_id]
    assert imx.rows("insight", "ls")[0][:2] == [str(insight_id), "fact"]
    shown = imx.ok("insight", "show", str(insight_id)).stdout
    assert "Staging database port is 5433" in shown
    assert "confidence" in shown
    assert "context:notes/staging.md" in shown

    again = imx.json(
        "insight",
        "add",
        "Staging database port is 5433",
        "--kind",
        "fact",
        "--body-file",
        str(body),
        "--topic",
        "db/staging-port",
        "--assistant",
        "copilot",
        "--model",
        "gpt-5",
    )
    assert again["outcome"] == "corroborated"
    assert again["insight"]["id"] == insight_id

    rated = imx.json("insight", "feedback", str(insight_id), "accepted", "--note", "checked")
    assert rated["insight"]["feedback"]["accepted"] == 1
    stats = imx.json("insight", "stats")
    assert stats["accepted"] == 1
    keys = [s["key"] for s in stats["sources"]]
    assert any(k.endswith("/claude/claude-sonnet-5") for k in keys)
    assert any(k.endswith("/copilot/gpt-5") for k in keys)  # a corroborator is a source too
    assert "reliability" in imx.ok("insight", "stats").stdout


def test_a_contradicting_insight_on_the_same_topic_supersedes_and_the_conflict_shows(
    imx: Imx,
) -> None:
    first = imx.json(
        "insight", "add", "Port is 5432", "--kind", "fact", "--topic", "db/port", "-b", "5432"
    )
    second = imx.json(
        "insight", "add", "Port is 6543", "--kind", "fact", "--topic", "db/port", "-b", "6543"
    )

    old = first["insight"]["id"]
    assert second["superseded"] == [old]
    shown = imx.json("insight", "show", str(old))
    assert shown["status"] == "superseded"
    assert shown["superseded_by"] == second["insight"]["id"]
    assert [i["id"] for i in imx.json("insight", "ls", "--status", "all")] == [
        second["insight"]["id"],
        old,
    ]


def test_bad_input_is_refused_with_its_code_and_nothing_is_written(imx: Imx) -> None:
    wrong_kind = imx("insight", "add", "t", "--kind", "rumour")
    bad_evidence = imx("insight", "add", "t", "--kind", "fact", "--evidence", "file:x")
    missing = imx("insight", "show", "424242")
    verdict = imx("insight", "feedback", "1", "maybe")

    assert wrong_kind.exit_code == 2
    assert bad_evidence.exit_code == 2
    assert missing.exit_code == 1
    assert "insight.not_found" in missing.stderr
    assert verdict.exit_code == 2
    assert imx.json("insight", "ls", "--status", "all") == []


def test_retrieve_prints_the_package_for_a_task_within_the_budget(imx: Imx) -> None:
    imx.ok(
        "ctx",
        "put",
        "notes/release.md",
        "To release: bump the version, tag the commit, push the tag; CI publishes.",
    )
    imx.ok("ctx", "put", "notes/food.md", "Lunch is at noon.")
    imx.ok(
        "insight",
        "add",
        "Tag releases from main only",
        "--kind",
        "convention",
        "-b",
        "Release tags are cut from main after CI passes.",
    )

    package = imx.json("retrieve", "how do I release a new version", "--budget", "200")
    text = imx.ok("retrieve", "release tag", "--budget", "200").stdout

    assert package["tokens_used"] <= 200
    refs = [item.get("key") or item.get("id") for item in package["items"]]
    assert "notes/release.md" in refs
    assert "notes/food.md" not in refs[:1]
    assert all("score" in item and "source" in item for item in package["items"])
    assert "of 200 tokens" in text


ORIGINAL = '''
def total_price(items, tax_rate):
    """Sum the items and add tax."""
    subtotal = 0
    for item in items:
        if item.quantity > 0:
            subtotal += item.price * item.quantity
    if subtotal > 100:
        subtotal = subtotal * 0.9
    tax = subtotal * tax_rate
    return round(subtotal + tax, 2)
'''

RENAMED = """
def order_total(lines, vat):
    # same shape, other names and layout
    acc = 0
    for line in lines:
        if line.quantity > 0: acc += line.price * line.quantity
    if acc > 100: acc = acc * 0.9
    extra = acc * vat
    return round(acc + extra, 2)
"""


def test_a_code_shape_shared_by_two_entries_is_reported_as_a_pattern(imx: Imx) -> None:
    imx.ok("ctx", "put", "src/shop/cart.py", ORIGINAL)
    imx.ok("ctx", "put", "notes/answer.md", f"The assistant suggested:\n\n```python{RENAMED}```\n")
    imx.ok("ctx", "put", "notes/plain.md", "No code here.")

    found = imx.json("insight", "patterns", "--scan")
    insights = imx.json("insight", "ls", "--kind", "pattern")

    assert found["scan"]["code_entries"] == 2
    [pattern] = [p for p in found["items"] if p["kind"] == "function"]
    assert pattern["keys"] == ["notes/answer.md", "src/shop/cart.py"]
    assert len(insights) == 1
    assert {o["key"] for o in insights[0]["occurrences"]} == set(pattern["keys"])
    assert "src/shop/cart.py:2-" in imx.ok("insight", "show", str(insights[0]["id"])).stdout
