"""The credentials file in IMX_HOME that the CLI uses by default (mode 0600, written atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_credentials(path: Path) -> dict[str, Any]:
    """The file's contents, or an empty dict when it does not exist or is unreadable JSON."""
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def write_credentials(path: Path, content: dict[str, Any]) -> None:
    """Replace the file; it is never readable by others, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp creates it 0600
            json.dump(content, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_credentials(path: Path, **changes: Any) -> dict[str, Any]:
    content = read_credentials(path)
    content.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        content.pop(key, None)
    write_credentials(path, content)
    return content
