"""Artifact integrity: every file of a version is checked against the sha256 its manifest records
before anything is served; names are matched in full; links out of the artifact root are refused."""

import json
import os

import numpy as np
import pytest

from app.artifacts import load_catalog, resolve_version
from models import artifact_format as fmt
from models import checksums
from tests.versions import copy_version, rewrite


@pytest.fixture
def version(trained_version, tmp_path):
    return copy_version(trained_version, tmp_path, "copy-1")


def _refused(version_dir, match):
    with pytest.raises(fmt.ArtifactError, match=match) as refused:
        load_catalog(version_dir)
    assert str(version_dir.parent) not in str(refused.value)  # relative to the root, never a server path
    return str(refused.value)


def test_the_manifest_records_every_file(trained_version):
    manifest = fmt.read_manifest(trained_version)
    listed = manifest[fmt.FILES]
    on_disk = {path.relative_to(trained_version).as_posix() for path in trained_version.rglob("*") if path.is_file()}
    assert set(listed) == on_disk - {fmt.MANIFEST}
    assert {"scann/scann_config.pb", "seen.npz", "items.parquet", "saved_models/query/saved_model.pb"} <= set(listed)
    checksums.verify(trained_version, manifest)


def _first(version_dir, directory):
    return next(path.relative_to(version_dir).as_posix() for path in sorted((version_dir / directory).rglob("*"))
                if path.is_file())


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
@pytest.mark.parametrize("target", ["scann", "seen.npz", "items.parquet", "item_embeddings.npy",
                                    "saved_models/ranking/variables"])
def test_a_damaged_file_is_refused_by_name(version, target, damage):
    relative = _first(version, target) if (version / target).is_dir() else target
    path = version / relative
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
        message = _refused(version, "truncated")
    elif damage == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        message = _refused(version, "does not match its sha256")
    else:
        path.unlink()
        message = _refused(version, "missing")
    assert "copy-1" in message and relative in message


def test_a_file_without_a_recorded_checksum_is_refused(version):
    manifest = json.loads((version / fmt.MANIFEST).read_text())
    del manifest[fmt.FILES][fmt.SEEN]
    (version / fmt.MANIFEST).write_text(json.dumps(manifest))
    _refused(version, "no checksum for seen.npz")


def test_a_version_written_before_checksums_is_refused_with_a_hint(version):
    manifest = json.loads((version / fmt.MANIFEST).read_text())
    manifest["format_version"] = 2
    (version / fmt.MANIFEST).write_text(json.dumps(manifest))
    _refused(version, f"artifact format 2; this build reads {fmt.FORMAT_VERSION} .train again")


@pytest.mark.parametrize("listed", ["../outside.txt", "/etc/hostname", "a\\b"])
def test_a_manifest_naming_a_file_outside_the_version_is_refused(version, listed):
    manifest = json.loads((version / fmt.MANIFEST).read_text())
    manifest[fmt.FILES][listed] = {"sha256": "0" * 64, "bytes": 1}
    (version / fmt.MANIFEST).write_text(json.dumps(manifest))
    _refused(version, "outside the version|invalid file name")


def test_symbolic_links_are_refused(version, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (version / fmt.SEEN).rename(outside / "seen.npz")
    os.symlink(outside / "seen.npz", version / fmt.SEEN)
    _refused(version, "seen.npz is, or lies under, a symbolic link")


def test_a_version_linked_from_outside_the_root_is_refused(trained_version, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(trained_version, root / "linked")
    with pytest.raises(fmt.ArtifactError, match="outside the artifact root"):
        resolve_version(root, "linked")


@pytest.mark.parametrize("content", ["tiny-1\n\n", "tiny-1 \n", "../tiny-1\n", "\n", ""])
def test_latest_is_matched_in_full(trained_version, content):
    root = trained_version.parent
    latest = (root / fmt.LATEST).read_text()
    try:
        (root / fmt.LATEST).write_text(content)
        with pytest.raises(fmt.ArtifactError, match="invalid model version name"):
            resolve_version(root)
    finally:
        (root / fmt.LATEST).write_text(latest)
    assert resolve_version(root) == trained_version


def test_a_rewritten_file_with_a_recorded_checksum_still_loads_its_catalog(version):
    """The checksums are the manifest's, not a secret: what they guard against is damage, not an attacker
    who can write the artifact root; the probes then catch models that compute something else."""
    popularity = np.load(version / fmt.POPULARITY)
    popularity[0] += 1
    with (version / fmt.POPULARITY).open("wb") as stream:
        np.save(stream, popularity)
    _refused(version, "popularity.npy does not match")
    rewrite(version, fmt.POPULARITY, (version / fmt.POPULARITY).read_bytes(), record_checksum=True)
    assert load_catalog(version).popularity[0] == popularity[0]
