"""On-disk data: Zarr field stores (``fields``)."""

from .fields import FieldStore, open_fields

__all__ = ["FieldStore", "open_fields"]
