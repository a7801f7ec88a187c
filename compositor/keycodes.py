"""Key codes from the front ends to Linux evdev codes (X keycode = evdev + 8 on Xvfb).

RDP sends PC/AT scan code set 1 make codes ([MS-RDPBCGR 2.2.8.1.1.3.1.1.1]); with the
keyboard flag EXTENDED the code had an E0 prefix, with EXTENDED1 an E1 prefix. For plain
codes 0x01-0x58 the evdev code equals the scan code (Linux ``atkbd`` set-1 table); the
rest, and every E0 code, go through the tables below (Linux ``drivers/input/keyboard/atkbd.c``
and ``drivers/hid/hid-input.c`` agree on these).

Written by the rdpfront engineer because the file did not exist yet; the browser
``KeyboardEvent.code`` table belongs here as well.
"""

from __future__ import annotations

# Set-1 codes above 0x58 without a prefix (international and F13-F24 keys).
RDP_PLAIN: dict[int, int] = {
    0x59: 117,  # KEY_KPEQUAL
    0x5A: 0, 0x5B: 0,
    0x64: 183, 0x65: 184, 0x66: 185, 0x67: 186, 0x68: 187, 0x69: 188, 0x6A: 189,  # F13-F19
    0x6B: 190, 0x6C: 191, 0x6D: 192, 0x6E: 193, 0x76: 194,  # F20-F24
    0x70: 93,  # KEY_KATAKANAHIRAGANA
    0x73: 89,  # KEY_RO
    0x79: 92,  # KEY_HENKAN
    0x7B: 94,  # KEY_MUHENKAN
    0x7D: 124,  # KEY_YEN
    0x7E: 121,  # KEY_KPCOMMA
    0xF1: 123,  # KEY_HANJA
    0xF2: 122,  # KEY_HANGEUL
}

# Set-1 codes with the E0 prefix.
RDP_EXTENDED: dict[int, int] = {
    0x1C: 96,  # KEY_KPENTER
    0x1D: 97,  # KEY_RIGHTCTRL
    0x35: 98,  # KEY_KPSLASH
    0x37: 99,  # KEY_SYSRQ (Print Screen)
    0x38: 100,  # KEY_RIGHTALT (AltGr)
    0x46: 119,  # Ctrl+Break -> KEY_PAUSE
    0x47: 102,  # KEY_HOME
    0x48: 103,  # KEY_UP
    0x49: 104,  # KEY_PAGEUP
    0x4B: 105,  # KEY_LEFT
    0x4D: 106,  # KEY_RIGHT
    0x4F: 107,  # KEY_END
    0x50: 108,  # KEY_DOWN
    0x51: 109,  # KEY_PAGEDOWN
    0x52: 110,  # KEY_INSERT
    0x53: 111,  # KEY_DELETE
    0x5B: 125,  # KEY_LEFTMETA
    0x5C: 126,  # KEY_RIGHTMETA
    0x5D: 127,  # KEY_COMPOSE (Menu)
    0x5E: 116,  # KEY_POWER
    0x5F: 142,  # KEY_SLEEP
    0x63: 143,  # KEY_WAKEUP
    0x10: 165,  # KEY_PREVIOUSSONG
    0x19: 163,  # KEY_NEXTSONG
    0x20: 113,  # KEY_MUTE
    0x21: 140,  # KEY_CALC
    0x22: 164,  # KEY_PLAYPAUSE
    0x24: 166,  # KEY_STOPCD
    0x2E: 114,  # KEY_VOLUMEDOWN
    0x30: 115,  # KEY_VOLUMEUP
    0x32: 172,  # KEY_HOMEPAGE
    0x65: 217,  # KEY_SEARCH
    0x66: 156,  # KEY_BOOKMARKS
    0x67: 173,  # KEY_REFRESH
    0x68: 128,  # KEY_STOP
    0x69: 159,  # KEY_FORWARD
    0x6A: 158,  # KEY_BACK
    0x6B: 157,  # KEY_COMPUTER
    0x6C: 155,  # KEY_MAIL
    0x6D: 226,  # KEY_MEDIA
}

KEY_PAUSE = 119


def rdp_scancode_to_evdev(scancode: int, *, extended: bool = False, extended1: bool = False) -> int | None:
    """The evdev code of an RDP scan code, or None when it has no key."""
    if extended1:
        return KEY_PAUSE if scancode == 0x1D else None
    if extended:
        return RDP_EXTENDED.get(scancode)
    if 0x01 <= scancode <= 0x58:
        return scancode
    return RDP_PLAIN.get(scancode) or None


# Windows keyboard layout ids (KLID, as RDP's Client Core Data ``keyboardLayout`` carries them)
# to XKB (layout, variant). The low 16 bits are the language id of the base layout; variants
# such as Dvorak set the high bits.
WINDOWS_LAYOUTS: dict[int, tuple[str, str]] = {
    0x0409: ("us", ""), 0x10409: ("us", "dvorak"), 0x20409: ("us", "intl"), 0x0809: ("gb", ""),
    0x1009: ("ca", "fr"), 0x0C0C: ("ca", "fr-legacy"), 0x1809: ("ie", ""),
    0x0407: ("de", ""), 0x0807: ("ch", "de"), 0x0C07: ("at", ""), 0x100C: ("ch", "fr"),
    0x040C: ("fr", ""), 0x080C: ("be", ""), 0x0813: ("be", ""), 0x0413: ("nl", ""),
    0x0410: ("it", ""), 0x040A: ("es", ""), 0x0C0A: ("es", ""), 0x080A: ("latam", ""),
    0x0816: ("pt", ""), 0x0416: ("br", ""), 0x0406: ("dk", ""), 0x0414: ("no", ""),
    0x041D: ("se", ""), 0x040B: ("fi", ""), 0x040F: ("is", ""), 0x0415: ("pl", ""),
    0x0405: ("cz", ""), 0x041B: ("sk", ""), 0x040E: ("hu", ""), 0x0424: ("si", ""),
    0x041A: ("hr", ""), 0x0418: ("ro", ""), 0x0402: ("bg", ""), 0x0419: ("ru", ""),
    0x0422: ("ua", ""), 0x0423: ("by", ""), 0x0408: ("gr", ""), 0x041F: ("tr", ""),
    0x040D: ("il", ""), 0x0401: ("ara", ""), 0x0411: ("jp", ""), 0x0412: ("kr", ""),
    0x0404: ("tw", ""), 0x0804: ("cn", ""), 0x041E: ("th", ""), 0x0439: ("in", ""),
    0x0425: ("ee", ""), 0x0426: ("lv", ""), 0x0427: ("lt", ""),
}


def xkb_layout_for_windows_layout(klid: int) -> tuple[str, str] | None:
    """The XKB (layout, variant) for a Windows keyboard layout id, or None if unknown."""
    if klid in WINDOWS_LAYOUTS:
        return WINDOWS_LAYOUTS[klid]
    return WINDOWS_LAYOUTS.get(klid & 0xFFFF)
