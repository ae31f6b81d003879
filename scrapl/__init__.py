"""SCRAPL: scattering transform with random paths.

Available now: the JTFS filter bank (``scrapl.filter_bank``, NumPy, on kymatio 0.3.0's 1-D
filter design) and the torch JTFS (``scrapl.jtfs.JTFS``: full transform and single path
``(n2, n_fr)``), equal to the peer ``scrapl-loss`` 0.1.0 within ~1e-6 relative
(``tests/test_jtfs_parity.py``). ``SCRAPLLoss`` with P-Adam, P-SAGA and theta-IS is still to
come (SCRAPL issue).
"""
