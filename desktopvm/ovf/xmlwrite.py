"""A tiny XML element builder that keeps the exact namespace prefixes OVF importers look for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# Characters XML 1.0 cannot carry at all (and lone surrogates, which UTF-8 cannot encode).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ATTRIBUTE_ESCAPES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def clean(value: str) -> str:
    """`value` without characters that would make the document invalid XML."""
    return _INVALID_XML.sub("", value)


@dataclass
class Node:
    """One element. Names are written as given ("rasd:Caption"): VirtualBox matches prefixes.

    (ElementTree would pick its own prefixes and cannot use the OVF namespace both as the
    default and as `ovf:`, which is what VirtualBox and VMware themselves write.)
    """

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    kids: list[Node] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, attrs: dict[str, str] | None = None) -> Node:
        """Append a child element and return it."""
        node = Node(tag, dict(attrs or {}), text)
        self.kids.append(node)
        return node

    def render(self, indent: int = 0) -> str:
        """The element as indented XML text."""
        pad = "  " * indent
        attrs = "".join(f' {k}="{escape(clean(v), _ATTRIBUTE_ESCAPES)}"'
                        for k, v in self.attrs.items())
        if self.kids:
            inner = "".join(kid.render(indent + 1) for kid in self.kids)
            return f"{pad}<{self.tag}{attrs}>\n{inner}{pad}</{self.tag}>\n"
        if self.text is None:
            return f"{pad}<{self.tag}{attrs}/>\n"
        return f"{pad}<{self.tag}{attrs}>{escape(clean(self.text))}</{self.tag}>\n"


def comment(text: str) -> str:
    """An XML comment; "--" is not allowed inside one."""
    return "<!--" + clean(text).replace("--", "- -").rstrip("-") + "-->\n"
