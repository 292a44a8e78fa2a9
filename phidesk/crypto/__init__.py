"""Encryption at rest: key providers, envelope encryption, blind indexes, rotation, shredding.

Public entry points live in `phidesk.crypto.services` (reveal, shred, blind_index,
integration secrets) and `phidesk.crypto.rotation` (rotate, reencrypt, status).
See docs/crypto.md.
"""
