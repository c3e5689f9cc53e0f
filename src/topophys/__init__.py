"""topophys: physical systems from simulation, through persistent homology, to learned models.

Subpackages are imported on demand (``import topophys.simulate.tdgl``) so that importing the
package, and starting the CLI, stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("topophys")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__", "load_energy_model"]


def __getattr__(name: str) -> object:
    # topophys.load_energy_model without importing torch when the package is imported.
    if name == "load_energy_model":
        from .potentials import load_energy_model

        return load_energy_model
    raise AttributeError(f"module 'topophys' has no attribute {name!r}")
