"""A retrieval package as a Markdown section for a prompt: best first, each with its score
and its source, so the reader can weigh it."""

from __future__ import annotations

from infinity_matrix.core.retrieval.records import RetrievalResult


def relevant_section(
    package: RetrievalResult, *, heading: str = "Most relevant to your task"
) -> str:
    """The section (starting with a blank line), or "" for an empty package."""
    if not package.items:
        return ""
    lines = ["", f"## {heading}", ""]
    for item in package.items:
        c = item.candidate
        name = f"insight {c.ref}" if c.type == "insight" else f"{c.type} {c.ref}"
        who = c.source.assistant or c.source.actor
        lines.append(f"### {name}: {c.title} (score {item.score.value:.2f}, from {who})")
        lines.append("")
        lines.append(item.text)
        lines.append("")
    return "\n".join(lines)
