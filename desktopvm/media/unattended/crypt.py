"""SHA-512 crypt ($6$), the password hash Linux installers take, in pure Python.

Python's `crypt` module is gone in 3.13 and passlib is not a dependency, so this follows
Ulrich Drepper's specification ("Unix crypt using SHA-256 and SHA-512", the algorithm glibc
implements) step by step; tests/media/unattended/test_crypt.py checks it against the
specification's own test vectors and against glibc.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DEFAULT_ROUNDS = 5000
MIN_ROUNDS, MAX_ROUNDS = 1000, 999_999_999
SALT_MAX = 16
# Which bytes of the final digest make each group of four characters (the spec's step 22).
_GROUPS = ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
           (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
           (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
           (18, 39, 60), (40, 61, 19), (62, 20, 41))


def _repeat(digest: bytes, length: int) -> bytes:
    """`digest` repeated to `length` bytes (the spec's P and S sequences)."""
    return (digest * (length // len(digest) + 1))[:length]


def _b64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(out)


def sha512_crypt(password: str, salt: str | None = None, rounds: int | None = None) -> str:
    """The `$6$` hash of `password`; a random 16-character salt unless one is given.

    `rounds` None means the default 5000, written without a `rounds=` field, as glibc does.
    """
    if salt is None:
        salt = "".join(secrets.choice(ALPHABET) for _ in range(SALT_MAX))
    if "$" in salt or "\n" in salt or ":" in salt:
        raise ValueError("a crypt salt cannot hold '$', ':' or a line break")
    key, salt_bytes = password.encode("utf-8"), salt.encode("utf-8")[:SALT_MAX]
    custom = rounds is not None
    count = min(max(rounds if rounds is not None else DEFAULT_ROUNDS, MIN_ROUNDS), MAX_ROUNDS)

    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    first = hashlib.sha512(key + salt_bytes)
    length = len(key)
    while length > 64:
        first.update(alternate)
        length -= 64
    first.update(alternate[:length])
    length = len(key)
    while length:  # each bit of the key's length, lowest first: 1 adds B, 0 adds the key
        first.update(alternate if length & 1 else key)
        length >>= 1
    digest = first.digest()

    p_bytes = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    s_bytes = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))
    for i in range(count):
        step = hashlib.sha512(p_bytes if i % 2 else digest)
        if i % 3:
            step.update(s_bytes)
        if i % 7:
            step.update(p_bytes)
        step.update(digest if i % 2 else p_bytes)
        digest = step.digest()

    encoded = "".join(_b64((digest[a] << 16) | (digest[b] << 8) | digest[c], 4)
                      for a, b, c in _GROUPS) + _b64(digest[63], 2)
    prefix = f"$6$rounds={count}$" if custom else "$6$"
    return f"{prefix}{salt_bytes.decode('utf-8', errors='replace')}${encoded}"
