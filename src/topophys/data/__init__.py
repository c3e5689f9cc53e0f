"""On-disk data: field stores (``fields``), diagram stores (``diagram_store``), spin datasets
(``spins``) and atomic structures (``structures``, needs ASE, imported from its module)."""

from ._store import StoreDamagedError
from .diagram_store import DiagramStore, compute_atoms_diagrams, compute_field_diagrams
from .fields import FieldStore, open_fields
from .spins import SpinStore, open_spins

__all__ = [
    "DiagramStore",
    "FieldStore",
    "SpinStore",
    "StoreDamagedError",
    "compute_atoms_diagrams",
    "compute_field_diagrams",
    "open_fields",
    "open_spins",
]
