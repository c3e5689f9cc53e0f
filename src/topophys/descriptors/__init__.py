"""Atomic-environment descriptors from other libraries, for baselines beside the PH descriptor.

Import the submodule you need; nothing is imported here, so the package stays cheap to import.

- :mod:`~topophys.descriptors.soap`: DScribe's SOAP power spectrum, averaged over atoms
  (needs the ``baselines`` extra).
"""
