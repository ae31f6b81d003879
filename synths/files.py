"""File helpers of synths' writers (preset save) and of the code that imports them from
here: :func:`atomic_output` and :data:`PathLike`, re-exported from :mod:`kernels.files`
(the one implementation, in the bottom layer so that scrapl shares it)."""

from kernels.files import PathLike, atomic_output

__all__ = ["PathLike", "atomic_output"]
