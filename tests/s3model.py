"""S3's listing rules, written straight from their definition, for tests to compare against."""

from __future__ import annotations


def s3_listing(keys: list[str], prefix: str, delimiter: str, after: str) -> list[tuple[str, bool]]:
    """What S3 lists, in order, as ``(key or common prefix, is_common_prefix)``: the keys after
    the marker that start with the prefix, each cut after the first delimiter past the prefix
    into a common prefix, listed once, and only if it sorts after the marker."""
    out: list[tuple[str, bool]] = []
    for k in sorted(set(keys)):
        if not k.startswith(prefix) or k <= after:
            continue
        cut = k.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            out.append((k, False))
            continue
        group = k[: cut + len(delimiter)]
        if group > after and (not out or out[-1] != (group, True)):
            out.append((group, True))
    return out
