"""A sha256 for every file of an artifact version, written by the exporter into the manifest
(``artifact_format.FILES``) and checked by the server before it serves anything of that version.

Probe outputs (``PROBES``) catch a version whose models compute something else; checksums catch
what probes never read: a truncated ScaNN index, a flipped byte in ``seen.npz`` or a parquet file, an
embedding row no probe touches. Symbolic links are refused outright: the exporter writes none, and a
link could lead a reader outside the artifact root.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from models import artifact_format as fmt


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _files(version_dir: Path) -> list[str]:
    """Relative POSIX paths of the version's regular files, sorted; raises on any symbolic link."""
    found = []
    for directory, subdirectories, names in os.walk(version_dir, followlinks=False):
        for name in (*subdirectories, *names):
            path = Path(directory) / name
            relative = path.relative_to(version_dir).as_posix()
            if path.is_symlink():
                raise fmt.ArtifactError(f"{fmt.where(version_dir, relative)} is a symbolic link; refused")
            if path.is_file():
                found.append(relative)
    return sorted(found)


def file_digests(version_dir: Path) -> dict[str, dict[str, Any]]:
    """relative path -> {"sha256", "bytes"} of every file but the manifest (which will hold them)."""
    return {relative: {"sha256": _sha256(version_dir / relative), "bytes": (version_dir / relative).stat().st_size}
            for relative in _files(version_dir) if relative != fmt.MANIFEST}


def _safe_relative(version_dir: Path, relative: object) -> str:
    """A listed path must stay inside the version: no absolute paths, no "..", no backslashes."""
    if not isinstance(relative, str) or not relative or "\\" in relative:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)} lists an invalid file name {relative!r}")
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or ".." in parts or relative != PurePosixPath(relative).as_posix():
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)} lists a file outside the version: "
                                f"{relative!r}")
    return relative


def verify(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists, is not a link, and has its recorded size and sha256; every required
    file is listed. Raises ArtifactError naming the first file that fails (relative to the root)."""
    listed = manifest.get(fmt.FILES)
    if not isinstance(listed, dict) or not listed:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)} records no file checksums")
    unlisted = [name for name in fmt.REQUIRED_FILES if name != fmt.MANIFEST and name not in listed]
    if unlisted:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)} has no checksum for {', '.join(unlisted)}")
    inside = version_dir.resolve()
    for relative, expected in listed.items():
        path = version_dir / _safe_relative(version_dir, relative)
        name = fmt.where(version_dir, relative)
        if path.is_symlink() or not path.resolve().is_relative_to(inside):
            raise fmt.ArtifactError(f"{name} is, or lies under, a symbolic link; refused")
        if not path.is_file():
            raise fmt.ArtifactError(f"{name} is missing")
        if not isinstance(expected, dict) or not {"sha256", "bytes"} <= set(expected):
            raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)} has a malformed entry for {relative}")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise fmt.ArtifactError(f"{name} has {size} bytes, the manifest records {expected['bytes']} "
                                    f"(truncated or replaced)")
        if _sha256(path) != expected["sha256"]:
            raise fmt.ArtifactError(f"{name} does not match its sha256 in the manifest (corrupt or modified)")
