"""Implicit neural representations (SIREN, hash-grid MLP) that fit one volume and serve as a codec.

``model`` holds the networks, ``encodings`` the multi-resolution hash-grid input encoding, ``fit`` the
training loop and full-grid evaluation, ``quantize`` the weight quantisation and zstd packing, ``arch``
the torch-free architecture sizes, and ``sizing`` picks an architecture that fills a byte budget.
The codecs are in :mod:`cerebro.codecs.siren`.
"""
