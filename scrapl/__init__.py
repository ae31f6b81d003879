"""SCRAPL: scattering transform with random paths (the JTFS filter bank, single-path and
full JTFS, and ``SCRAPLLoss``). Built in the SCRAPL issue; this package exists so the
project layout is complete."""
