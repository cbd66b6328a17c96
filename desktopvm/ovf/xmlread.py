"""Namespace-tolerant helpers for reading an untrusted OVF envelope parsed with defusedxml."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # only for types and ParseError; parsing goes through defusedxml
from dataclasses import dataclass, field
from typing import cast

import defusedxml
import defusedxml.ElementTree

from desktopvm.ovf.common import OVF1_NS, OVF2_NS, VMW_NS, OvfError, whole_number

# Descriptors are a few kilobytes; a huge one is an attack or not an OVF at all.
MAX_OVF_BYTES = 16 * 1024 * 1024
HARDWARE_ITEMS = ("Item", "StorageItem", "EthernetPortItem")  # OVF 2.0 adds the latter two


def parse_envelope(xml_bytes: bytes, source: str) -> tuple[ET.Element, str]:
    """The Envelope element and its OVF namespace; OvfError for anything unsafe or not OVF."""
    if len(xml_bytes) > MAX_OVF_BYTES:
        raise OvfError(f"{source}: the descriptor is {len(xml_bytes)} bytes; an OVF descriptor "
                       f"larger than {MAX_OVF_BYTES // (1024 * 1024)} MiB is not accepted")
    try:
        # No DTDs at all: OVF never needs one, and entity tricks (billion laughs, external
        # entities reading local files) all start there.
        parsed = defusedxml.ElementTree.fromstring(xml_bytes, forbid_dtd=True)
    except defusedxml.DefusedXmlException as error:
        raise OvfError(f"{source}: refusing the descriptor: {error}") from error
    except ET.ParseError as error:
        raise OvfError(f"{source}: the descriptor is not well-formed XML ({error})") from error
    root = cast(ET.Element, parsed)
    namespace = ns(root.tag)
    if local(root.tag) != "Envelope" or namespace not in (OVF1_NS, OVF2_NS):
        raise OvfError(f"{source}: not an OVF 1.x/2.x descriptor (the root element is "
                       f"{root.tag!r}, expected Envelope in {OVF1_NS} or {OVF2_NS})")
    return root, namespace


def local(tag: str) -> str:
    """The element or attribute name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def ns(tag: str) -> str:
    """The namespace URI of a qualified name, '' if none."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def children(element: ET.Element, name: str) -> list[ET.Element]:
    """Child elements with this local name, in any namespace."""
    return [c for c in element if isinstance(c.tag, str) and local(c.tag) == name]


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first child element with this local name."""
    found = children(element, name)
    return found[0] if found else None


def descendants(element: ET.Element, name: str) -> list[ET.Element]:
    """Elements anywhere below `element` with this local name, in document order."""
    return [e for e in element.iter() if e is not element and local(str(e.tag)) == name]


def text(element: ET.Element | None) -> str:
    """An element's stripped text, '' for a missing element."""
    return (element.text or "").strip() if element is not None else ""


def attr(element: ET.Element, name: str, namespace: str = "") -> str | None:
    """An attribute by local name: first in `namespace`, then unqualified, then any namespace.

    Exporters disagree on qualifying OVF attributes (`ovf:href` vs `href`).
    """
    keys = ([f"{{{namespace}}}{name}"] if namespace else []) + [name]
    for key in keys:
        if key in element.attrib:
            return element.attrib[key].strip()
    for key, value in element.attrib.items():
        if local(key) == name:
            return value.strip()
    return None


@dataclass
class HardwareItem:
    """One Item/StorageItem/EthernetPortItem: its child values by local name."""

    resource_type: int | None
    values: dict[str, str]
    required: bool
    vmw_config: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        """The value of a child element, '' if absent."""
        return self.values.get(name, "")


def hardware_items(section: ET.Element, namespace: str, configuration: str) -> list[HardwareItem]:
    """The hardware items of a VirtualHardwareSection that apply to `configuration`."""
    items = []
    for element in section:
        if not isinstance(element.tag, str) or local(element.tag) not in HARDWARE_ITEMS:
            continue
        wanted = attr(element, "configuration", namespace)
        if wanted and configuration and configuration not in wanted.split():
            continue
        values: dict[str, str] = {}
        for part in element:
            if isinstance(part.tag, str):
                values.setdefault(local(part.tag), text(part))
        raw_type = values.get("ResourceType", "")
        items.append(HardwareItem(
            resource_type=whole_number(raw_type),
            values=values,
            required=(attr(element, "required", namespace) or "true").lower() != "false",
            vmw_config=vmw_config(element),
        ))
    return items


def vmw_config(element: ET.Element) -> dict[str, str]:
    """VMware's `<vmw:Config vmw:key=... vmw:value=...>` (and ExtraConfig) entries of an element."""
    config: dict[str, str] = {}
    for entry in element:
        if not isinstance(entry.tag, str) or local(entry.tag) not in ("Config", "ExtraConfig"):
            continue
        if ns(entry.tag) != VMW_NS:
            continue
        key, value = attr(entry, "key", VMW_NS), attr(entry, "value", VMW_NS)
        if key is not None and value is not None:
            config[key] = value
        # Also accept the attribute form `<vmw:Config firmware="efi"/>`.
        for name, plain in entry.attrib.items():
            if local(name) not in ("key", "value", "required"):
                config[local(name)] = plain
    return config
