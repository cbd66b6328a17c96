"""Parsers over real captures (../shared/fixtures) and the per-version samples in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.virtualbox.parse import (
    ProgressParser,
    find_quoted_after,
    find_uuid_after,
    guest_addresses,
    megabytes_to_bytes,
    parse_blocks,
    parse_error,
    parse_guest_properties,
    parse_machine_readable,
    parse_pairs,
    parse_snapshot_tree,
    parse_vm_list,
)
from backends.virtualbox.versions import parse_version
from desktopvm.testing.doubles.virtualbox.fakevbox.output import pair
from tests.backends.virtualbox.conftest import SAMPLES, sample

SHOWVMINFO_FIXTURES = [
    "chef_ohai_showvminfo_mr_poweroff_with_snapshot.txt",
    "vedv_vbox70_showvminfo_mr_poweroff_bios.txt",
    "vagrant_vbox70_showvminfo_mr_header_excerpt.txt",
    "vagrant_vbox70_showvminfo_mr_nics_hostonlynet_excerpt.txt",
    "unresolved_vbox60_windows_showvminfo_mr_running_bridged.txt",
    "unresolved_vbox5x_linux_showvminfo_mr_running_nat_sharedfolders.txt",
]
SHOWVMINFO_SAMPLES = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("*/showvminfo_*"))


def fixture_text(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SHOWVMINFO_FIXTURES)
def test_every_real_showvminfo_parses_and_keeps_nothing_that_is_a_pair(shared_fixtures, name):
    text = fixture_text(shared_fixtures, name)
    parsed = parse_machine_readable(text)
    assert parsed.items
    assert all("=" not in line.split('"')[0] for line in parsed.unparsed), parsed.unparsed


def test_chef_capture_quoted_keys_with_spaces_and_snapshot(shared_fixtures):
    info = parse_machine_readable(fixture_text(shared_fixtures, SHOWVMINFO_FIXTURES[0]))
    assert info.get("name") == "ubuntu-18.04-amd64_1549746024485_35372"
    assert info.integer("memory") == 1024 and info.integer("vrdeport") == -1
    assert info.get("SATA Controller-ImageUUID-0-0") == "1c182745-4b09-41a1-a147-d3ced46f72f6"
    assert info.get("vrdeproperty[TCP/Ports]") == "5947"
    roots, current = parse_snapshot_tree(info)
    assert [s.name for s in roots] == ["base"] and current == roots[0].id


def test_vbox70_capture_stray_lines_nvram_key_and_multiline_description(shared_fixtures):
    info = parse_machine_readable(fixture_text(shared_fixtures, SHOWVMINFO_FIXTURES[1]))
    assert "Encryption:     disabled" in info.unparsed
    assert " rec_screen0" in info.unparsed
    assert info.get("BIOS NVRAM File").endswith("manjaro-gnome-x64-full-clean.nvram")
    assert info.get("description") == "name1=value1\nname2=value2"
    assert "name2" not in info  # a continuation line is not a key
    assert info.get("GuestMemoryBalloon") == "0"  # parsing goes on after the description


def test_vbox5x_capture_escaped_quotes_forwarding_and_keys_with_spaces(shared_fixtures):
    info = parse_machine_readable(fixture_text(shared_fixtures, SHOWVMINFO_FIXTURES[5]))
    assert '# yum groupinstall "GNOME Desktop" "Graphical Administration Tools"' in \
        info.get("description")
    assert info.get("description").endswith("centos / reverse\n")
    assert info.get("Forwarding(0)") == "ssh,tcp,127.0.0.1,2222,,22"
    assert info.get("GuestAdditionsFacility_VirtualBox Base Driver") == "50,1550641065785"
    assert info.get("videocapres") == "1024x768" and info.get("videocapopts") == ""
    assert info.get("VideoMode") == "720,400,0@0,0 1"


def test_vbox60_windows_capture_backslashes(shared_fixtures):
    info = parse_machine_readable(fixture_text(shared_fixtures, SHOWVMINFO_FIXTURES[4]))
    assert info.get("CfgFile") == r"C:\Users\kouzm\VirtualBox VMs\Xubuntu 22.04\Xubuntu 22.04.vbox"
    assert info.get("IDE-1-0") == r"C:\Program Files\Oracle\VirtualBox\VBoxGuestAdditions.iso"
    assert info.get("SATA-0-0") == r"C:\Virtual Machines\xubuntu22.04-3.vdi"
    assert info.get("bridgeadapter1") == "Intel(R) Wi-Fi 6E AX211 160MHz"


@pytest.mark.parametrize("name", SHOWVMINFO_SAMPLES)
def test_every_sample_showvminfo_parses(name):
    info = parse_machine_readable(sample(name))
    assert info.get("UUID") and info.get("VMState")


def test_61_sample_escapes_and_raw_pipe_path():
    info = parse_machine_readable(sample("6.1/showvminfo_windows_host_running.txt"))
    assert info.get("name") == 'Win10 "dev" box'
    assert info.get("CfgFile") == \
        'C:\\Users\\ana\\VirtualBox VMs\\Win10 "dev" box\\Win10 "dev" box.vbox'
    assert info.get("uartmode1") == r"server,\\.\pipe\win10-com1"  # printed raw by VirtualBox
    assert info.get("description") == 'Build box.\nTools: "VS 2022", C:\\tools\nline three'


def test_70_snapshot_list_keeps_raw_quotes_in_descriptions_and_duplicate_names():
    roots, current = parse_snapshot_tree(parse_machine_readable(sample("7.0/snapshot_list.txt")))
    [root] = roots
    assert root.description == 'clean install\nwith "quotes" left raw'
    assert [c.name for c in root.children] == ["branch a", "branch b"]
    assert [c.name for c in root.children[1].children] == ["base"]
    assert [s.name for s in root.walk()].count("base") == 2
    assert current == "c0ffee00-0000-4000-8000-00000000000c"


def test_packer_snapshot_tree(shared_fixtures):
    info = parse_machine_readable(fixture_text(shared_fixtures,
                                               "packer_vbox_snapshot_list_mr_tree.txt"))
    roots, current = parse_snapshot_tree(info)
    [root] = roots
    assert root.name == "Imported"
    assert [c.name for c in root.children] == ["Snapshot 1", "Snapshot 5", "Snapshot 7"]
    assert [c.name for c in root.children[0].children] == ["Snapshot 2", "Snapshot-Export"]
    assert [c.name for c in root.children[0].children[0].children] == ["Snapshot 3", "Snapshot 4"]
    assert len(root.walk()) == 11
    assert current == "c857d1b8-4fd6-4044-9d2c-c6e465b3cdd4"


def test_vm_lists(shared_fixtures):
    assert parse_vm_list(fixture_text(shared_fixtures, "chef_ohai_list_vms.txt")) == [
        ("ubuntu-18.04-amd64_1549746024485_35372", "6294f16b-4f05-4430-afb9-773bdb237aec")]
    transcript = fixture_text(shared_fixtures,
                              "dmoto_vbox_windows_startvm_list_poweroff_session.txt")
    assert {uuid for _, uuid in parse_vm_list(transcript)} == \
        {"6ebc2119-de35-467b-a695-047eb2e424f5"}
    odd = parse_vm_list(sample("7.2/list_vms_odd_names.txt"))
    assert [name for name, _ in odd] == ["-starts with a dash", 'has "quotes" inside',
                                         "<inaccessible>", "ünïcödé ‘name’"]


def test_blocks_split_on_the_first_key_not_on_blank_lines(shared_fixtures):
    nets = parse_blocks(fixture_text(shared_fixtures, "vagrant_vbox70_list_hostonlynets_macos.txt"))
    assert [n["Name"] for n in nets] == ["vagrantnet-vbox1", "vagrantnet-vbox2"]
    assert nets[0]["LowerIP"] == "192.168.61.0"
    ifs = parse_blocks(fixture_text(shared_fixtures, "chef_ohai_list_hostonlyifs.txt"))
    assert [i["Name"] for i in ifs] == ["vboxnet0", "vboxnet1"] and ifs[0]["IPV6Address"] == ""
    natnets = parse_blocks(fixture_text(shared_fixtures, "chef_ohai_list_natnets.txt"))
    assert natnets[0]["NetworkName"] == "NatNetwork" and "127.0.0.1=2" in natnets[0]["_extra"]
    hdds = parse_blocks(fixture_text(shared_fixtures, "chef_ohai_list_hdds.txt"))
    assert hdds[1]["Parent UUID"] == hdds[0]["UUID"]
    assert megabytes_to_bytes(hdds[0]["Capacity"]) == 65536 * 1024**2
    bridged = parse_blocks(fixture_text(shared_fixtures,
                                        "vagrant_vbox70_list_bridgedifs_macos.txt"))
    assert bridged[0]["Name"] == "en1: Wi-Fi (AirPort)" and len(bridged) == 5
    dhcp = parse_blocks(fixture_text(shared_fixtures, "chef_ohai_list_dhcpservers.txt"))
    assert dhcp[1]["IP"] == "192.168.19.2"


def test_pairs_and_ostypes(shared_fixtures):
    properties = parse_pairs(fixture_text(shared_fixtures,
                                          "vagrant_vbox70_list_systemproperties.txt"))
    assert properties["Default machine folder"] == "/home/username/VirtualBox VMs"
    assert properties["Maximum guest CPU count"] == "64"
    types = parse_blocks(sample("7.1/list_ostypes_excerpt.txt"))
    assert [t["ID"] for t in types] == ["Ubuntu24_LTS_64", "Ubuntu24_LTS_arm64", "Windows11_64"]


def test_session_transcripts_created_ids_and_progress(shared_fixtures):
    session = fixture_text(shared_fixtures, "dmoto_vbox706_linux_create_vm_session.txt")
    assert find_uuid_after("Medium created. UUID:", session) == \
        "4973af85-5e20-43c2-b630-73084cc5191f"
    assert find_uuid_after("UUID:", session) == "253cc2ba-935b-482c-83d3-14bc4ed72c22"
    assert find_quoted_after("Settings file:", session) == \
        "/home/alma2/VBoxHome/vm/rh9-node1/rh9-node1.vbox"
    dry_run = fixture_text(shared_fixtures, "vagrant_vbox5x_import_dryrun_with_progress.txt")
    fractions = list(ProgressParser().feed(dry_run))
    assert fractions == [i / 10 for i in range(11)]


@given(st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_progress_survives_any_chunking(cuts):
    text = "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%\n"
    parser = ProgressParser()
    seen: list[float] = []
    position = 0
    for cut in cuts * 20:
        if position >= len(text):
            break
        seen += parser.feed(text[position:position + cut])
        position += cut
    seen += parser.feed(text[position:])
    assert seen == [i / 10 for i in range(11)] and parser.run == 0


def test_progress_counts_runs():
    parser = ProgressParser()
    assert list(parser.feed("0%...50%...100%\nOK.\n0%...")) == [0.0, 0.5, 1.0, 0.0]
    assert parser.run == 1


def test_versions():
    assert str(parse_version(sample("6.1/version.txt"))) == "6.1.50"
    assert parse_version(sample("7.0/version_driver_warning.txt")).series == (7, 0)
    assert parse_version("6.1.38_Ubuntur153438\n").patch == 38
    assert parse_version("7.1.0_BETA1r164000").series == (7, 1)
    with pytest.raises(ValueError):
        parse_version("WARNING: only a warning\n")


def test_errors():
    error = parse_error(sample("errors/not_found.txt"))
    assert error is not None and error.code == "VBOX_E_OBJECT_NOT_FOUND"
    assert error.summary.startswith("Could not find a registered machine")
    assert parse_error(sample("errors/windows_exe_prefix.txt")).summary.startswith(  # type: ignore[union-attr]
        "Could not find a controller")
    failed = parse_error(sample("errors/progress_then_failure.txt"))
    assert failed is not None and failed.code == "VBOX_E_FILE_ERROR"
    assert parse_error("0%...100%\n") is None


def test_guest_properties_both_formats():
    old = parse_guest_properties(sample("6.1/guestproperty_enumerate.txt"))
    assert old["/VirtualBox/GuestInfo/Net/0/V4/IP"] == "10.0.2.15"
    assert guest_addresses(old) == ("10.0.2.15",)  # the link-local IPv6 is left out
    new = parse_guest_properties(sample("7.0/guestproperty_enumerate.txt"))
    assert guest_addresses(new) == ("192.168.1.57", "10.10.0.5")
    assert new["/VirtualBox/GuestInfo/Net/Count"] == "2"


@given(st.text(max_size=300))
def test_machine_readable_parser_never_raises(text):
    parse_machine_readable(text)
    parse_blocks(text)
    parse_vm_list(text)


VALUES = st.text(alphabet=st.characters(exclude_categories=["Cs"],
                                        exclude_characters="\r\x00"), max_size=80)


@given(VALUES, VALUES)
def test_escaped_values_round_trip(name, description):
    text = "\n".join([pair("name", name), pair("description", description), "memory=64", ""])
    info = parse_machine_readable(text)
    assert info.get("name") == name
    assert info.get("description") == description
    assert info.get("memory") == "64"


def test_host_facts_and_medium_info_samples():
    from backends.virtualbox.capabilities import HostFacts

    facts = HostFacts.from_outputs(sample("7.2/list_hostinfo.txt"),
                                   sample("7.2/list_systemproperties.txt"))
    assert (facts.cpus, facts.memory_mib, facts.nested_virtualization) == (12, 32041, True)
    assert facts.default_machine_folder == "/home/ana/VirtualBox VMs"
    assert HostFacts.from_outputs("", "") == HostFacts()
    medium = parse_pairs(sample("7.0/showmediuminfo.txt"))
    assert megabytes_to_bytes(medium["Capacity"]) == 64 * 1024**3
    assert medium["In use by VMs"].startswith("win11 (UUID:")
