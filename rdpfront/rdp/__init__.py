"""[MS-RDPBCGR] RDP-layer PDUs carried in MCS Send Data: security header, client info,
licensing, share control/data PDUs, capability sets, finalization, slow-path input."""
