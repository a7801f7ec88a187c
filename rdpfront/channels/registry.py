"""Every virtual channel the server serves, by name: the one place a channel is registered.

A new channel is a module with a ``StaticChannel`` or ``DynamicChannel`` subclass and one line
here. Dynamic channels get the id of their place in ``DYNAMIC_CHANNELS`` (1, 2, ...), so ids
stay the same whichever of them a client is asked for; static channels are served in the
order listed here once the connection is first active.
"""

from __future__ import annotations

from rdpfront.channels.audio_input import AudioInputChannel
from rdpfront.channels.base import DynamicChannel, StaticChannel
from rdpfront.channels.clipboard import ClipboardChannel
from rdpfront.channels.display import DisplayControlChannel
from rdpfront.channels.drdynvc import DynamicChannels
from rdpfront.channels.drives import DriveChannel
from rdpfront.channels.graphics import GraphicsChannel
from rdpfront.channels.sound import AudioPlaybackChannel, SoundChannel
from rdpfront.channels.touch import TouchInputChannel

STATIC_CHANNELS: dict[str, type[StaticChannel]] = {
    ClipboardChannel.name: ClipboardChannel,  # "cliprdr"
    DynamicChannels.name: DynamicChannels,  # "drdynvc"
    SoundChannel.name: SoundChannel,  # "rdpsnd"
    DriveChannel.name: DriveChannel,  # "rdpdr"
}

DYNAMIC_CHANNELS: dict[str, type[DynamicChannel]] = {
    DisplayControlChannel.name: DisplayControlChannel,  # id 1
    GraphicsChannel.name: GraphicsChannel,  # id 2
    AudioInputChannel.name: AudioInputChannel,  # id 3
    TouchInputChannel.name: TouchInputChannel,  # id 4
    AudioPlaybackChannel.name: AudioPlaybackChannel,  # id 5
}


def dynamic_channel_id(name: str) -> int:
    """Our id for the dynamic channel registered under ``name``."""
    return list(DYNAMIC_CHANNELS).index(name) + 1


DISP_CHANNEL_ID = dynamic_channel_id(DisplayControlChannel.name)
GFX_CHANNEL_ID = dynamic_channel_id(GraphicsChannel.name)
INPUT_CHANNEL_ID = dynamic_channel_id(TouchInputChannel.name)
PLAYBACK_CHANNEL_ID = dynamic_channel_id(AudioPlaybackChannel.name)
