"""Install media read by their own structures (pure Python): identifiers, boot, the OS.

`inspect_media` reads an ISO's volume descriptors, El Torito boot catalog and release files
without reading the whole image; `detect_os` matches those facts against osinfo-db's media
rules (or the built-in table derived from them) and names the OS catalog entry.
"""

from desktopvm.media.detect import Detection, detect_os
from desktopvm.media.facts import MediaError, MediaFacts, boot_media, inspect_media

__all__ = ["Detection", "MediaError", "MediaFacts", "boot_media", "detect_os", "inspect_media"]
