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
