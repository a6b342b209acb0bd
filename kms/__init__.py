"""Key management for Privacy Vault: the safe, public recipe surface.

Use :class:`KeyRing` for per-subject envelope encryption, :class:`FieldCipher`
to seal and open field values, :class:`BlindIndexer` for searchable fields and
:class:`TransitClient` for direct transit operations (HMAC, signatures, key
rotation). Primitives (nonces, framing) live in the private ``_aead`` and
``_format`` modules and are not exported.

``kms`` takes plain values and never reads environment variables or settings.
"""

from kms.blind_index import BlindIndexer, normalise
from kms.cache import CacheStats, DekCache
from kms.embedded import EmbeddedOpenBao, EmbeddedVaultInfo
from kms.envelope import FieldCipher, KeyRing, field_aad
from kms.errors import AccessDenied, DecryptionFailed, KeyNotFound, KeyUnavailable, KmsError
from kms.transit import KeyInfo, TransitClient

__all__ = [
    "AccessDenied",
    "BlindIndexer",
    "CacheStats",
    "DecryptionFailed",
    "DekCache",
    "EmbeddedOpenBao",
    "EmbeddedVaultInfo",
    "FieldCipher",
    "KeyInfo",
    "KeyNotFound",
    "KeyRing",
    "KeyUnavailable",
    "KmsError",
    "TransitClient",
    "field_aad",
    "normalise",
]
