"""Bringing a directory's generated files up to date (or removing them) without ever touching
what is not ours: plan first (``plan_sync``, ``plan_revert``), then ``apply`` the plan.

A Markdown file is ours when the manifest lists it. A file that exists and is not listed is
``skip``ped (with ``force``, adopted only if it carries our marker); a listed file whose hash
no longer matches was edited by someone and is a ``conflict`` (overwritten only with ``force``).
A JSON config is merged key by key: only our server entry (and VS Code's token input) is added,
updated or, on revert, removed; every other key stays as it was. A render that differs from the
file only in the marker's seq leaves the file ``unchanged`` (no churn on unrelated changes).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infinity_matrix.clientconfig import (
    SERVERS_KEY,
    VSCODE_INPUT,
    ClientName,
    Unusable,
    dumps_json,
    entry,
    merge_json,
    write_file,
)
from infinity_matrix.providers.instructions import manifest as mf
from infinity_matrix.providers.instructions.targets import (
    CONFIG_FILES,
    CONFIG_TARGETS,
    MARKER_PREFIX,
    ConfigFile,
    MarkdownFile,
    RenderOptions,
    Source,
    render,
    without_marker,
)

Action = Literal["create", "update", "unchanged", "delete", "skip", "conflict"]
WRITES = frozenset({"create", "update", "delete"})


@dataclass(frozen=True, slots=True)
class FileChange:
    """What happens (or would happen) to one file; ``before``/``after`` are its texts (None:
    absent)."""

    path: str
    target: str
    action: Action
    before: str | None = None
    after: str | None = None
    reason: str = ""

    def diff(self) -> str:
        """A unified diff of the change ("" when nothing changes)."""
        if self.action not in WRITES:
            return ""
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            fromfile="/dev/null" if self.before is None else f"a/{self.path}",
            tofile="/dev/null" if self.after is None else f"b/{self.path}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "target": self.target,
            "action": self.action,
            "reason": self.reason,
        }


@dataclass(slots=True)
class SyncPlan:
    """The changes to make under ``root`` and the manifest once they are made."""

    root: Path
    changes: list[FileChange]
    manifest: mf.Manifest
    seq: int = 0
    workspace: str | None = None

    @property
    def manifest_path(self) -> Path:
        return self.root / mf.MANIFEST_PATH

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "seq": self.seq,
            "manifest": mf.MANIFEST_PATH,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(slots=True)
class _Planner:
    root: Path
    old: mf.Manifest
    new: mf.Manifest
    force: bool
    changes: list[FileChange] = field(default_factory=list)

    def read(self, path: str) -> str | None:
        file = self.root / path
        if not file.is_file():
            return None
        return file.read_text(encoding="utf-8-sig")

    def add(self, change: FileChange, entry: mf.ManifestEntry | None) -> None:
        self.changes.append(change)
        if entry is None:
            self.new.files.pop(change.path, None)
        else:
            self.new.files[change.path] = entry


def plan_sync(
    root: Path, source: Source, targets: list[str], options: RenderOptions, *, force: bool = False
) -> SyncPlan:
    """The changes that bring ``targets`` under ``root`` to ``source``; files of these targets
    we made earlier but no longer render (a section that went away) are deleted.

    Raises ``manifest.ManifestError`` when the manifest cannot be read."""
    old = mf.load(root)
    new = mf.Manifest(source.workspace, options.hub_url or old.hub, source.seq, dict(old.files))
    planner = _Planner(root, old, new, force)
    rendered = render(source, targets, options)
    for item in rendered:
        if _unsafe(root, item.path):
            planner.add(FileChange(item.path, item.target, "skip", reason="a symbolic link"), None)
        elif isinstance(item, MarkdownFile):
            _plan_markdown(planner, item, source.seq)
        else:
            _plan_config(planner, item, source.seq)
    wanted = {item.path for item in rendered}
    for path, entry_ in sorted(old.files.items()):
        if entry_.target in targets and entry_.format == "markdown" and path not in wanted:
            _plan_removal(planner, path, entry_)
    return SyncPlan(root, planner.changes, new, source.seq, source.workspace)


def plan_revert(root: Path, targets: list[str] | None = None, *, force: bool = False) -> SyncPlan:
    """The changes that take out what the manifest says we generated (of ``targets``, default
    all): our Markdown files deleted, our entries taken out of the JSON configs."""
    old = mf.load(root)
    new = mf.Manifest(old.workspace, old.hub, old.seq, dict(old.files))
    planner = _Planner(root, old, new, force)
    for path, entry_ in sorted(old.files.items()):
        if targets is None or entry_.target in targets:
            _plan_removal(planner, path, entry_)
    return SyncPlan(root, planner.changes, new, old.seq, old.workspace)


def apply(plan: SyncPlan) -> None:
    """Make the plan's changes and write its manifest (removed when it lists nothing)."""
    for change in plan.changes:
        if change.action not in WRITES:
            continue
        path = plan.root / change.path
        if change.after is None:
            path.unlink(missing_ok=True)
            _prune(path.parent, plan.root)
        else:
            write_file(path, change.after)
    text = mf.text_of(plan.manifest)
    if text is None:
        plan.manifest_path.unlink(missing_ok=True)
        _prune(plan.manifest_path.parent, plan.root)
    else:
        write_file(plan.manifest_path, text)


# Markdown -----------------------------------------------------------------------------------


def _plan_markdown(planner: _Planner, item: MarkdownFile, seq: int) -> None:
    current = planner.read(item.path)
    known = planner.old.files.get(item.path)
    ours = mf.ManifestEntry(item.target, mf.sha256(item.text), seq)
    if current is None:
        planner.add(FileChange(item.path, item.target, "create", None, item.text), ours)
        return
    if known is None:
        if not (planner.force and MARKER_PREFIX in current):
            reason = "not written by imx sync-files (not in its manifest)"
            planner.add(FileChange(item.path, item.target, "skip", reason=reason), None)
            return
    elif mf.sha256(current) != known.sha256 and not planner.force:
        reason = "edited since imx wrote it (use --force to overwrite)"
        planner.add(FileChange(item.path, item.target, "conflict", reason=reason), known)
        return
    if without_marker(current) == without_marker(item.text):
        kept = mf.ManifestEntry(item.target, mf.sha256(current), known.seq if known else seq)
        planner.add(FileChange(item.path, item.target, "unchanged", current, current), kept)
        return
    planner.add(FileChange(item.path, item.target, "update", current, item.text), ours)


def _plan_removal(planner: _Planner, path: str, known: mf.ManifestEntry) -> None:
    if _unsafe(planner.root, path):
        planner.add(FileChange(path, known.target, "skip", reason="outside the directory"), known)
        return
    current = planner.read(path)
    if current is None:
        planner.add(FileChange(path, known.target, "unchanged", reason="already gone"), None)
        return
    if known.format == "json":
        _plan_config_removal(planner, path, known, current)
        return
    if mf.sha256(current) != known.sha256 and not planner.force:
        reason = "edited since imx wrote it (use --force to remove)"
        planner.add(FileChange(path, known.target, "conflict", reason=reason), known)
        return
    planner.add(FileChange(path, known.target, "delete", current, None), None)


# JSON configs ---------------------------------------------------------------------------------


def _plan_config(planner: _Planner, item: ConfigFile, seq: int) -> None:
    current = planner.read(item.path)
    known = planner.old.files.get(item.path)
    wanted = entry(item.client, item.server)
    try:
        doc = _object(current)
        present = doc.get(SERVERS_KEY[item.client], {}).get(item.server.name)
        merged = merge_json(current or "", item.client, item.server)
    except (Unusable, AttributeError) as exc:
        reason = f"cannot be merged into: {exc}"
        planner.add(FileChange(item.path, item.target, "skip", reason=reason), known)
        return
    if present is not None and present != wanted and not planner.force:
        if known is None:
            reason = f"has a server {item.server.name!r} imx sync-files did not write"
            planner.add(FileChange(item.path, item.target, "skip", reason=reason), None)
            return
        if mf.entry_hash(present) != known.sha256:
            reason = "our server entry was edited (use --force to overwrite)"
            planner.add(FileChange(item.path, item.target, "conflict", reason=reason), known)
            return
    inputs = doc.get("inputs")
    had_input = isinstance(inputs, list) and any(
        isinstance(i, dict) and i.get("id") == VSCODE_INPUT for i in inputs
    )
    ours = mf.ManifestEntry(
        item.target,
        mf.entry_hash(wanted),
        seq,
        format="json",
        server=item.server.name,
        created=known.created if known else current is None,
        input=(known.input if known else not had_input) and item.client is ClientName.VSCODE,
    )
    if current is not None and json.loads(current) == json.loads(merged):
        planner.add(FileChange(item.path, item.target, "unchanged", current, current), ours)
        return
    action: Action = "create" if current is None else "update"
    planner.add(FileChange(item.path, item.target, action, current, merged), ours)


def _plan_config_removal(
    planner: _Planner, path: str, known: mf.ManifestEntry, current: str
) -> None:
    client = CONFIG_TARGETS.get(known.target)
    try:
        doc = _object(current)
    except (Unusable, AttributeError) as exc:
        reason = f"cannot be read: {exc}"
        planner.add(FileChange(path, known.target, "skip", reason=reason), known)
        return
    if client is None or CONFIG_FILES.get(known.target) != path or known.server is None:
        planner.add(FileChange(path, known.target, "skip", reason="unknown target"), known)
        return
    key = SERVERS_KEY[client]
    servers = dict(doc.get(key) or {})
    present = servers.get(known.server)
    if present is not None and mf.entry_hash(present) != known.sha256 and not planner.force:
        reason = "our server entry was edited (use --force to remove)"
        planner.add(FileChange(path, known.target, "conflict", reason=reason), known)
        return
    servers.pop(known.server, None)
    reverted = {**doc, key: servers}
    if not servers and known.created:
        reverted.pop(key)
    if known.input and isinstance(doc.get("inputs"), list):
        inputs = [
            i for i in doc["inputs"] if not (isinstance(i, dict) and i.get("id") == VSCODE_INPUT)
        ]
        reverted["inputs"] = inputs
        if not inputs and known.created:
            reverted.pop("inputs")
    if not reverted and known.created:
        planner.add(FileChange(path, known.target, "delete", current, None), None)
    elif reverted == doc:
        planner.add(FileChange(path, known.target, "unchanged", current, current), None)
    else:
        planner.add(FileChange(path, known.target, "update", current, dumps_json(reverted)), None)


def _object(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise Unusable(f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise Unusable("its top level is not a JSON object")
    return doc


def _unsafe(root: Path, path: str) -> bool:
    """A path that leaves ``root`` (a doctored manifest) or passes through a symbolic link."""
    if path.startswith("/") or ".." in Path(path).parts:
        return True
    probe = root
    for part in Path(path).parts:
        probe = probe / part
        if probe.is_symlink():
            return True
    return False


def _prune(directory: Path, root: Path) -> None:
    """Remove directories left empty by a removal, up to (not including) ``root``."""
    root = root.resolve()
    while directory.resolve() != root and directory.resolve().is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


__all__ = ["FileChange", "SyncPlan", "apply", "plan_revert", "plan_sync"]
