"""Legacy RDP bitmap codecs as pure functions over numpy arrays (MS-RDPBCGR / MS-RDPEGDI).

- ``planar``: RDP 6.0 Bitmap Compression for 32-bpp clients (MS-RDPEGDI 2.2.2.5.1).
- ``interleaved``: Interleaved RLE for 15/16/24-bpp clients (MS-RDPBCGR 2.2.9.1.1.3.1.2.4).
- ``raw``: uncompressed bitmap data (bottom-up, 4-byte aligned scanlines).
- ``bitmap``: damaged rectangles to TS_BITMAP_DATA tiles and TS_UPDATE_BITMAP_DATA groups
  (the PDU dataclasses are ``rdpfront.bitmap.BitmapData`` / ``BitmapUpdate``).

See ``docs/rdp-bitmap-codecs.md``.
"""

from rdpfront.codecs.bitmap import build_bitmap_data, compressed_data_header, pack_bitmap_updates
from rdpfront.codecs.interleaved import decode_interleaved, encode_interleaved, encode_interleaved_batch
from rdpfront.codecs.planar import decode_planar, encode_planar, encode_planar_batch
from rdpfront.codecs.raw import decode_raw, encode_raw

__all__ = [
    "build_bitmap_data",
    "compressed_data_header",
    "decode_interleaved",
    "decode_planar",
    "decode_raw",
    "encode_interleaved",
    "encode_interleaved_batch",
    "encode_planar",
    "encode_planar_batch",
    "encode_raw",
    "pack_bitmap_updates",
]
