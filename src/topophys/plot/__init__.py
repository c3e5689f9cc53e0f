"""Figures (matplotlib, imported lazily): functions take ``ax=None`` or return a Figure."""
