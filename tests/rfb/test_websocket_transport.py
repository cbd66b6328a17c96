"""The WebSocket transport under the RFB client: a failure never shows the URL's ticket."""

from __future__ import annotations

import pytest

from desktopvm.rfb.websocket_transport import WebSocketError, open_websocket

SECRET = "52-3a-SECRET-TICKET-9f"


@pytest.mark.parametrize("url", [
    f"wss://esx.example:443/ticket/{SECRET}",  # nobody listens: refused or unresolvable
    f"wss://[bad host/ticket/{SECRET}",  # urllib cannot parse it (ValueError)
    f"https://esx.example/ticket/{SECRET}",  # the library's "isn't a valid URI" quotes it
])
def test_a_failure_names_the_host_but_not_the_ticket(url: str):
    with pytest.raises(WebSocketError) as caught:
        open_websocket(url.replace("esx.example", "127.0.0.1").replace(":443", ":9"),
                       timeout=2)
    said = str(caught.value)
    assert SECRET not in said and "/ticket/…" in said


def test_a_url_without_a_ticket_keeps_the_words_readable():
    with pytest.raises(WebSocketError) as caught:
        open_websocket("https://127.0.0.1:9/ticket/", timeout=2)
    assert "isn't a valid URI" in str(caught.value)  # the library's words, not "…i…s…n…'…t"
