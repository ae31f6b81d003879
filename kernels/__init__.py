"""Fused JTFS path kernels (Triton on CUDA, a torch reference on the CPU) behind one
dispatcher. Built in the kernels issue; this package exists so the project layout is complete."""
