"""Dataset adapters, registered by name in `DATASETS`.

Every adapter is a class constructed as `Adapter(root, split=...)` that behaves as a sequence of
`Sample`s, loading each clip lazily on indexing. `open_dataset(name, root, split=...)` picks one by
name.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, cast

from facetalk.data.sample import Sample
from facetalk.errors import InvalidInputError
from facetalk.registry import Registry


class ClipDataset(Protocol):
    """A split of a dataset: `len()` clips, each read from disk when indexed."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def __iter__(self) -> Iterator[Sample]: ...


class DatasetFactory(Protocol):
    def __call__(self, root: str | os.PathLike[str], *, split: str = ...) -> ClipDataset: ...


DATASETS: Registry[DatasetFactory] = Registry("dataset")


def open_dataset(name: str, root: str | os.PathLike[str], *, split: str = "train", **options: Any) -> ClipDataset:
    """The `split` of the dataset `name` stored at `root`.

    Args:
        name: a registered dataset name (`DATASETS.names()`).
        root: where the dataset is stored (docs/datasets.md gives each layout).
        split: a split name the adapter knows.
        **options: passed to the adapter, e.g. `on_bad="stop"` for the research-dataset adapters
            (see `facetalk.data.validate`).
    """
    try:
        check_dataset_options(name, options)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{root}: {exc}") from None
    factory = cast(Callable[..., ClipDataset], DATASETS.get(name))
    return factory(root, split=split, **options)


def check_dataset_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise a one-line error for an option the adapter of dataset `name` does not take."""
    accepted = inspect.signature(DATASETS.get(name)).parameters
    for option in options:
        if option not in accepted or option in ("root", "split"):
            known = ", ".join(p for p in accepted if p not in ("root", "split")) or "none"
            raise InvalidInputError(f"dataset {name!r} has no option {option!r} (options: {known})")


from facetalk.data.formats import a2f as a2f  # noqa: E402
from facetalk.data.formats import beat as beat  # noqa: E402
from facetalk.data.formats import biwi as biwi  # noqa: E402
from facetalk.data.formats import flame_seq as flame_seq  # noqa: E402
from facetalk.data.formats import livelink as livelink  # noqa: E402
from facetalk.data.formats import native as native  # noqa: E402  (registers "native")
from facetalk.data.formats import vocaset as vocaset  # noqa: E402

__all__ = ["DATASETS", "ClipDataset", "DatasetFactory", "open_dataset"]
