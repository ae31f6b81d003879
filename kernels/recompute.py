"""Higher-order and batched gradients of the fused autograd Functions of :mod:`kernels`.

The Triton, numba and fused CPU Functions have hand-written backward passes that launch
kernels or work in place on buffers: they are neither differentiable themselves nor
runnable under ``vmap``.  Two cases need that:

* double backward (``create_graph=True``, e.g. the Hessian-vector products of SCRAPL's
  θ-IS warm-up): grad mode is on inside ``backward``;
* ``torch.autograd.grad(..., is_grads_batched=True)``: ``backward`` runs under vmap with
  batched grad_outputs.

In both, a Function's backward instead recomputes its forward with the plain torch
definition of :mod:`kernels.reference` from the saved inputs (which keep their own graph)
and differentiates that (:func:`vjp_by_recomputation`), so every derivative is exact.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import torch

from . import reference

__all__ = ["is_batched", "needs_recomputation", "vjp_by_recomputation", "modulus_function"]


def is_batched(grads: Sequence[Optional[torch.Tensor]]) -> bool:
    """Whether a backward pass runs under vmap (``is_grads_batched=True``)."""
    F_ = torch._C._functorch
    return any(g is not None and (F_.is_legacy_batchedtensor(g) or F_.is_batchedtensor(g))
               for g in grads)


def needs_recomputation(grads: Sequence[Optional[torch.Tensor]]) -> bool:
    """True inside a backward pass that must go through :func:`vjp_by_recomputation`:
    under ``create_graph`` (grad mode on) or under vmap (batched grad_outputs)."""
    return torch.is_grad_enabled() or is_batched(grads)


def vjp_by_recomputation(plain: Callable, inputs: Sequence, needs_input_grad: Sequence[bool],
                         grads: Sequence[Optional[torch.Tensor]]) -> List[Optional[torch.Tensor]]:
    """Gradients of ``plain(*inputs)`` (a tensor or a tuple of tensors) against ``grads``
    (one per output, None for outputs without a gradient) w.r.t. the inputs flagged in
    ``needs_input_grad``; None for the others.  With their graph when grad mode is on
    (double backward); under vmap the batched ``grads`` go through the recomputed graph.

    ``inputs`` are the saved inputs of the Function (tensors with their own graph; the
    flagged ones require grad); ``plain`` uses only differentiable torch operations."""
    wrt = [i for i, (t, need) in enumerate(zip(inputs, needs_input_grad))
           if need and isinstance(t, torch.Tensor)]
    result: List[Optional[torch.Tensor]] = [None] * len(inputs)
    if not wrt:
        return result
    create_graph = torch.is_grad_enabled()
    if all(g is None for g in grads):
        for i in wrt:
            result[i] = torch.zeros_like(inputs[i])
        return result
    with torch.enable_grad():
        outs = plain(*inputs)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
        found = torch.autograd.grad([o for o, _ in pairs], [inputs[i] for i in wrt],
                                    [g for _, g in pairs], create_graph=create_graph,
                                    allow_unused=True, materialize_grads=True)
    for i, g in zip(wrt, found):
        result[i] = g
    return result


def modulus_function(forward: Callable, backward: Callable) -> type:
    """The autograd Function of a modulus kernel (numba, Triton): ``forward(z, log1p_eps)``
    -> u and ``backward(z, g, log1p_eps)`` -> dz launch the kernels on a contiguous,
    conjugation-resolved z (and contiguous g).  Saves the input only (u is recomputed in
    backward); differentiates :func:`kernels.reference.modulus` under create_graph/vmap.
    The class is named ``_Modulus`` and belongs to the kernels' module."""

    class _Modulus(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z_in, log1p_eps):
            ctx.save_for_backward(z_in)       # the input itself: its graph for recomputation
            ctx.log1p_eps = log1p_eps
            return forward(z_in.resolve_conj().contiguous(), log1p_eps)

        @staticmethod
        def backward(ctx, g):
            (z_in,) = ctx.saved_tensors
            log1p_eps = ctx.log1p_eps
            if needs_recomputation((g,)):
                return vjp_by_recomputation(lambda z: reference.modulus(z, log1p_eps), (z_in,),
                                            ctx.needs_input_grad[:1], (g,))[0], None
            return backward(z_in.resolve_conj().contiguous(), g.contiguous(), log1p_eps), None

    _Modulus.__module__ = forward.__module__
    return _Modulus
