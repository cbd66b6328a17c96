"""Every answer stays data: hypothesis writes hostile names and passwords into each format and
reads the file back with the parser its installer uses (PyYAML, shlex as pykickstart splits,
debconf-set-selections' line rule, an XML parser)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopvm.media.unattended import Answers, plan_cloud_seed, plan_seed, sha512_crypt
from desktopvm.media.unattended.answers import WINDOWS_USER_FORBIDDEN
from tests.media.unattended.formats import (
    entry,
    read_autounattend,
    read_kickstart_command,
    read_kickstart_words,
    read_preseed,
    read_yaml,
)

# Text without control characters, weighted towards what breaks formats.
NASTY = "\"'\\`$#&*!|{}[]<>:;,%@?=~^ -\u00e9\u2603\U0001F600"
_chars = st.one_of(st.sampled_from(NASTY),
                   st.characters(blacklist_categories=("Cs", "Cc"),
                                 blacklist_characters="\x85\u2028\u2029\ufffe\uffff"))
TEXT = st.text(_chars, min_size=1, max_size=40)
LINUX_USER = st.from_regex(r"\A[a-z_][a-z0-9_-]{0,31}\Z")
WINDOWS_USER = TEXT.filter(lambda s: len(s) <= 20 and not set(s) & WINDOWS_USER_FORBIDDEN
                           and bool(s.strip(". ")))
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plan(os_id: str, answers: Answers) -> dict[str, str]:
    made = plan_seed(entry(os_id), answers, uefi=True, backend_kind="qemu",
                     instance_id="i-1")
    return {name: data.decode("utf-8") for name, data in made.files.items()}


def _hash_matches(hashed: str, password: str) -> bool:
    salt = hashed.split("$")[2]
    return sha512_crypt(password, salt) == hashed


@FAST
@given(user=LINUX_USER, password=TEXT, full_name=TEXT.filter(lambda s: ":" not in s))
def test_ubuntu_autoinstall_reads_back(user: str, password: str, full_name: str):
    files = plan("ubuntu24.04", Answers(user=user, password=password, full_name=full_name))
    identity = read_yaml(files["user-data"])["autoinstall"]["identity"]
    assert (identity["username"], identity["realname"]) == (user, full_name)
    assert _hash_matches(identity["password"], password)
    assert read_yaml(files["meta-data"])["instance-id"] == "i-1"


@FAST
@given(user=LINUX_USER, password=TEXT, full_name=TEXT.filter(lambda s: ":" not in s))
def test_kickstart_reads_back(user: str, password: str, full_name: str):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 " + full_name.strip()
    text = plan("fedora", Answers(user=user, password=password, full_name=full_name,
                                  ssh_keys=(key,)))["ks.cfg"]
    assert read_kickstart_words(text, "sshkey") == ["sshkey", f"--username={user}", key.strip()]
    options = read_kickstart_command(text, "user")
    assert (options["name"], options["gecos"]) == (user, full_name)
    assert _hash_matches(options["password"], password)
    assert "poweroff" in text.splitlines()


@FAST
@given(user=LINUX_USER, password=TEXT,
       full_name=TEXT.filter(lambda s: ":" not in s and s == s.strip() and not s.endswith("\\")))
def test_preseed_reads_back(user: str, password: str, full_name: str):
    text = plan("debian12", Answers(user=user, password=password, full_name=full_name))
    answers = read_preseed(text["preseed.cfg"])
    assert (answers["passwd/username"], answers["passwd/user-fullname"]) == (user, full_name)
    assert _hash_matches(answers["passwd/user-password-crypted"], password)


@FAST
@given(user=WINDOWS_USER, password=TEXT, full_name=TEXT)
def test_autounattend_reads_back(user: str, password: str, full_name: str):
    text = plan("windows11", Answers(user=user, password=password, full_name=full_name,
                                     hostname="win-box"))["autounattend.xml"]
    read = read_autounattend(text)
    assert (read["name"], read["display"], read["password"]) == (user, full_name, password)
    assert read["computer"] == "win-box"


@FAST
@given(user=LINUX_USER, password=TEXT, full_name=TEXT.filter(lambda s: ":" not in s),
       comment=TEXT)
def test_cloud_init_reads_back(user: str, password: str, full_name: str, comment: str):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 " + comment.strip()
    made = plan_cloud_seed(Answers(user=user, password=password, full_name=full_name,
                                   ssh_keys=(key,), packages=("htop",)), instance_id="i-2")
    data = read_yaml(made.files["user-data"].decode())
    [account] = data["users"]
    assert (account["name"], account["gecos"]) == (user, full_name)
    assert account["ssh_authorized_keys"] == [key.strip()]
    assert _hash_matches(account["passwd"], password)
    assert data["packages"] == ["htop"]
