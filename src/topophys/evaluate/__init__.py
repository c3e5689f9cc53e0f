"""Evaluations of trained models: the papers' figures as numbers."""
