"""Figures: comparison grids of cover, secret, stego and revealed images."""

from .grid import comparison_grid, save_grid

__all__ = ["comparison_grid", "save_grid"]
