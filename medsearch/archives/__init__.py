"""Archives: manifests that say where images and texts are, and readers that turn them into Items.

    from medsearch.archives import open_archive
    archive = open_archive("roco", root="/data/roco")
    for item in archive.items():
        ...
    archive.skipped  # rows that were recorded and skipped, with reasons
"""

from medsearch.archives.archive import Archive, ArchiveInfo, list_archives, open_archive
from medsearch.archives.item import Item, Skipped
from medsearch.archives.manifest import Manifest, load_manifest
from medsearch.archives.reader import Reader

__all__ = ["Archive", "ArchiveInfo", "Item", "Manifest", "Reader", "Skipped", "list_archives", "load_manifest", "open_archive"]
