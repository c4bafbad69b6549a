"""Copies and edits of a trained artifact version, for tests that break one on purpose."""

import json
import shutil
from pathlib import Path

from models import artifact_format as fmt
from models import checksums


def copy_version(source: Path, root: Path, name: str, created_at: str | None = None) -> Path:
    """``source`` copied to ``root/name`` under that version name; its checksums stay valid (the
    manifest, which holds them, is not listed)."""
    target = root / name
    shutil.copytree(source, target)
    manifest = json.loads((target / fmt.MANIFEST).read_text())
    manifest["version"] = name
    manifest["created_at"] = created_at or manifest["created_at"]
    (target / fmt.MANIFEST).write_text(json.dumps(manifest))
    return target


def rewrite(version_dir: Path, relative: str, content: bytes, record_checksum: bool) -> None:
    """Replace one file; with ``record_checksum`` the manifest is updated too, so that only checks
    beyond the checksums (the probes, say) can notice."""
    (version_dir / relative).write_bytes(content)
    if record_checksum:
        manifest = json.loads((version_dir / fmt.MANIFEST).read_text())
        manifest[fmt.FILES] = checksums.file_digests(version_dir)
        (version_dir / fmt.MANIFEST).write_text(json.dumps(manifest))
