"""Small wording helpers shared by the pages, the reports and the job messages."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``0 runs``: a count with its noun in the right number.

    Args:
        count: how many.
        noun: the singular (the last word gets an "s" unless ``plural_noun`` is given).
        plural_noun: the plural, for irregular nouns.
    """
    return f"{count:,} {noun if count == 1 else plural_noun or noun + 's'}"


def file_size(size: int) -> str:
    """Bytes as people read them: ``840 KB``, ``12.3 MB``, ``250 MB``, ``1.20 GB``."""
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    if size >= 1e8:
        return f"{size / 1e6:.0f} MB"
    if size >= 1e6:
        return f"{size / 1e6:.1f} MB"
    return f"{max(1, round(size / 1e3))} KB"
