"""Training data: one record type for every dataset (`Sample`) and one adapter per dataset format."""

from facetalk.data.sample import Sample

__all__ = ["Sample"]
