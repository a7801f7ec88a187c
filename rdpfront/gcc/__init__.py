"""[T.124 / MS-RDPBCGR 2.2.1.3-2.2.1.4] GCC conference create PDUs and the RDP settings data blocks."""

from rdpfront.gcc.client_data import (
    ChannelDef,
    ChannelOptions,
    ClientClusterData,
    ClientCoreData,
    ClientGccBlocks,
    ClientMessageChannelData,
    ClientMonitorData,
    ClientMonitorExtendedData,
    ClientNetworkData,
    ClientSecurityData,
    Monitor,
    MonitorAttributes,
)
from rdpfront.gcc.conference import ConferenceCreateRequest, ConferenceCreateResponse
from rdpfront.gcc.server_data import (
    ServerCoreData,
    ServerGccBlocks,
    ServerMessageChannelData,
    ServerNetworkData,
    ServerSecurityData,
)
from rdpfront.gcc.user_data import DataBlockType, UserDataHeader

__all__ = [
    "ChannelDef", "ChannelOptions", "ClientClusterData", "ClientCoreData", "ClientGccBlocks",
    "ClientMessageChannelData", "ClientMonitorData", "ClientMonitorExtendedData", "ClientNetworkData",
    "ClientSecurityData",
    "ConferenceCreateRequest", "ConferenceCreateResponse", "DataBlockType", "Monitor", "MonitorAttributes",
    "ServerCoreData", "ServerGccBlocks", "ServerMessageChannelData", "ServerNetworkData",
    "ServerSecurityData", "UserDataHeader",
]
