"""Simulators of the physical systems: TDGL magnetic domains (``tdgl``) and their sweeps."""
