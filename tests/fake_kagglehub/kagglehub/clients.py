"""Like ``kagglehub.clients``: the tqdm progress bar its downloads report through."""

from tqdm import tqdm

__all__ = ["tqdm"]
