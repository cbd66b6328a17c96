"""sha512-crypt against the test vectors of Drepper's specification and against glibc."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktopvm.media.unattended.crypt import ALPHABET, sha512_crypt

# From "Unix crypt using SHA-256 and SHA-512" (Ulrich Drepper), the SHA-512 test vectors:
# (salt field, key, expected).
SPEC_VECTORS = [
    ("saltstring", None, "Hello world!",
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYE"
     "dFCoEOfaS35inz1"),
    ("saltstringsaltstring", 10000, "Hello world!",
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8v"
     "OuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
    ("toolongsaltstring", 5000, "This is just a test",
     "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1"
     "yxdYcz/e1JSbq3y6JMxxl8audkUEm0"),
    ("anotherlongsaltstring", 1400,
     "a very much longer text to encrypt.  This one even stretches over morethan one line.",
     "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66"
     "x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"),
    ("short", 77777, "we have a short salt string but not a short password",
     "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxF"
     "mtlcGZelFl5CxtgfiAc0"),
    ("asaltof16chars..", 123456, "a short string",
     "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoB"
     "K25fs2xXgMNrCzIMVcgEJAstJeonj1"),
    ("roundstoolow", 10, "the minimum number is still observed",
     "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4Z"
     "EQpyUNGc0dqbpBYYBaHHrsX."),
]


@pytest.mark.parametrize(("salt", "rounds", "key", "expected"), SPEC_VECTORS)
def test_specification_vectors(salt: str, rounds: int | None, key: str, expected: str):
    assert sha512_crypt(key, salt, rounds) == expected


def _glibc_crypt():
    name = ctypes.util.find_library("crypt")
    if name is None:
        pytest.skip("no libcrypt on this host to compare with")
    library = ctypes.CDLL(name)
    library.crypt.restype = ctypes.c_char_p
    library.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return library.crypt


@settings(max_examples=60, deadline=None)
@given(key=st.text(st.characters(blacklist_categories=["Cs"], min_codepoint=1), max_size=150),
       salt=st.text(alphabet=ALPHABET, max_size=20))
def test_same_as_glibc(key: str, salt: str):
    glibc = _glibc_crypt()
    expected = glibc(key.encode(), f"$6${salt}".encode()).decode()
    assert sha512_crypt(key, salt) == expected


def test_random_salt_is_sixteen_characters_of_the_alphabet():
    first, second = sha512_crypt("pw"), sha512_crypt("pw")
    assert first != second
    salt = first.split("$")[2]
    assert len(salt) == 16 and set(salt) <= set(ALPHABET)
