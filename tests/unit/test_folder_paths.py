"""Folder markers' hidden paths: the mapping, its inverse, and that it keeps S3's key order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.s3.errors import S3Error
from gateway.s3.names import FOLDERS_DIR, folder_dir, folder_key, folder_path, is_folder_key, object_path


def test_paths():
    assert folder_path("a/") == FOLDERS_DIR + "/_a/.folder"
    assert folder_path("a/b c/") == FOLDERS_DIR + "/_a/_b c/.folder"
    assert folder_path(".folder/") == FOLDERS_DIR + "/_.folder/.folder"  # no clash with the file
    assert folder_dir("") == FOLDERS_DIR + "/" and folder_dir("a/b/") == FOLDERS_DIR + "/_a/_b/"
    assert folder_key(FOLDERS_DIR + "/_a/_b/.folder") == "a/b/"
    assert folder_key(FOLDERS_DIR + "/_a/_b/") == "a/b/"  # a directory of the tree: a folder
    assert folder_key("/.s3g/meta/x") is None and folder_key(FOLDERS_DIR + "/junk") is None


def test_object_path():
    assert object_path("k") == "/k"
    assert object_path("d/e/") == folder_path("d/e/")
    assert is_folder_key("d/") and not is_folder_key("d")
    for bad in ("/", "a//", ".s3g/", "a/../", "x*/", "./"):
        with pytest.raises(S3Error):
            object_path(bad)


KEYISH = st.text(alphabet=st.sampled_from(" !#-./0:AZ_az~"), max_size=12)


@given(st.lists(KEYISH, min_size=2, max_size=2))
def test_order_is_kept_between_a_marker_and_any_string(pair):
    """A listing cursor (any string) maps so that markers after it in key order are after it
    in the marker tree too: what lets one bounded PFS call list markers from a cursor."""
    marker, other = pair[0] + "/", pair[1]
    if "//" in marker or marker == "/":
        return
    assert (marker < other) == (folder_path(marker) < folder_path(other))
    assert (marker == other) == (folder_path(marker) == folder_path(other))
    assert folder_key(folder_path(marker)) == marker
