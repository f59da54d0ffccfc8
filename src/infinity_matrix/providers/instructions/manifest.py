"""The manifest of generated files (``.imx/sync-files.json``): what we wrote, so that we only
ever rewrite or remove our own files, and notice when someone edited one since.

For a Markdown file ``sha256`` is that of the whole file; for a JSON config it is that of our
server entry alone (canonical JSON), with ``created`` (we made the file) and ``input`` (we added
VS Code's token input), so a revert takes out exactly what we put in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

MANIFEST_PATH = ".imx/sync-files.json"
FORMAT_VERSION = 1


class ManifestError(Exception):
    """The manifest cannot be read: nothing is written until it is fixed or removed."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    target: str
    sha256: str
    seq: int
    format: Literal["markdown", "json"] = "markdown"
    server: str | None = None
    created: bool = False
    input: bool = False


@dataclass(slots=True)
class Manifest:
    workspace: str | None = None
    hub: str | None = None
    seq: int = 0
    files: dict[str, ManifestEntry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "generator": "Infinity Matrix (imx sync-files)",
            "workspace": self.workspace,
            "hub": self.hub,
            "seq": self.seq,
            "files": {
                path: {k: v for k, v in asdict(e).items() if v not in (None, False)}
                for path, e in sorted(self.files.items())
            },
        }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entry_hash(value: Any) -> str:
    """The hash of a JSON value, independent of key order and layout."""
    return sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def load(root: Path) -> Manifest:
    """The manifest under ``root``, empty when there is none; raises ``ManifestError``."""
    path = root / MANIFEST_PATH
    if not path.exists():
        return Manifest()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = {
            str(p): ManifestEntry(
                target=str(e["target"]),
                sha256=str(e["sha256"]),
                seq=int(e.get("seq", 0)),
                format="json" if e.get("format") == "json" else "markdown",
                server=e.get("server"),
                created=bool(e.get("created", False)),
                input=bool(e.get("input", False)),
            )
            for p, e in raw.get("files", {}).items()
        }
        return Manifest(raw.get("workspace"), raw.get("hub"), int(raw.get("seq", 0)), files)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ManifestError(f"{MANIFEST_PATH} is not a manifest imx wrote ({exc})") from exc


def text_of(manifest: Manifest) -> str | None:
    """What the manifest file should hold; None when it lists nothing (it is removed)."""
    if not manifest.files:
        return None
    return json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
