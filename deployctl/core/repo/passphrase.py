"""Does a passphrase open a stack's secrets? Pulumi's own check, done without the engine.

A passphrase stack's `encryptionsalt` is `v1:<salt>:<check value>`: the word "pulumi" encrypted with
AES-256-GCM under a key derived from the passphrase (PBKDF2-SHA256, 1,000,000 rounds, 32 bytes), as
`v1:<nonce>:<ciphertext>` (pulumi/pulumi pkg/secrets/passphrase, sdk/go/common/resource/config/crypt.go).
Decrypting it is exactly how Pulumi says "incorrect passphrase", so `doctor` can say it before an `up` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

ROUNDS = 1_000_000
KEY_BYTES = 32


def passphrase_opens(passphrase: str, encryptionsalt: str) -> bool | None:
    """True when the passphrase decrypts the stack's check value, False when it does not; None when the
    value is not a state this knows (another version, or malformed): then only the engine can tell."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = encryptionsalt.split(":")
    if len(parts) != 5 or parts[0] != "v1" or parts[2] != "v1":
        return None
    try:
        salt, nonce, sealed = (base64.b64decode(p, validate=True) for p in (parts[1], parts[3], parts[4]))
    except (binascii.Error, ValueError):
        return None
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, ROUNDS, KEY_BYTES)
    try:
        AESGCM(key).decrypt(nonce, sealed, None)
    except (InvalidTag, ValueError):
        return False
    return True
