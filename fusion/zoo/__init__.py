"""Published fusion networks reimplemented to reproduce their official code: ``caf``, ``tardal``."""

from ivifbench.fusion.zoo.common import ZooCard

ZOO = ("caf", "tardal")

__all__ = ["ZOO", "ZooCard"]
