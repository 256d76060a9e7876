"""Licences that allow redistributing an item (with attribution).

The bundled demo archive (``build_demo``) and the shipped redistributable weights (``medsearch train
--redistributable``) take only rows whose licence is one of these.
"""

from __future__ import annotations

REDISTRIBUTABLE = ("CC BY", "CC0")
