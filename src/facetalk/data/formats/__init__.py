"""Dataset adapters, registered by name in `DATASETS`.

Every adapter is a class constructed as `Adapter(root, split=...)` that behaves as a sequence of
`Sample`s, loading each clip lazily on indexing. `open_dataset(name, root, split=...)` picks one by
name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

from facetalk.data.sample import Sample
from facetalk.registry import Registry


class ClipDataset(Protocol):
    """A split of a dataset: `len()` clips, each read from disk when indexed."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def __iter__(self) -> Iterator[Sample]: ...


class DatasetFactory(Protocol):
    def __call__(self, root: str | os.PathLike[str], *, split: str = ...) -> ClipDataset: ...


DATASETS: Registry[DatasetFactory] = Registry("dataset")


def open_dataset(name: str, root: str | os.PathLike[str], *, split: str = "train") -> ClipDataset:
    """The `split` of the dataset `name` stored at `root`."""
    return DATASETS.get(name)(root, split=split)


from facetalk.data.formats import native as native  # noqa: E402  (registers "native")

__all__ = ["DATASETS", "ClipDataset", "DatasetFactory", "open_dataset"]
