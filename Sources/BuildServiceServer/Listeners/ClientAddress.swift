import NIOCore

/// What the per-address connection cap counts by: an IPv4 address whole (also when it
/// arrives IPv4-mapped on an IPv6 socket), an IPv6 address by its /64 — the smallest block a
/// site is given, so one host cannot step around the cap with the other addresses of its prefix.
enum ClientAddress: Hashable, Sendable {
    case v4(UInt32)
    case v6Prefix(UInt64)

    /// `nil` for anything but an IP peer.
    init?(_ address: SocketAddress?) {
        switch address {
        case .v4(let ip):
            self = .v4(UInt32(bigEndian: ip.address.sin_addr.s_addr))
        case .v6(let ip):
            var raw = ip.address.sin6_addr
            let (prefix, suffix) = withUnsafeBytes(of: &raw) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            // ::ffff:a.b.c.d
            if prefix == 0, suffix >> 32 == 0xFFFF {
                self = .v4(UInt32(truncatingIfNeeded: suffix))
            } else {
                self = .v6Prefix(prefix)
            }
        default:
            return nil
        }
    }

    /// Whether a connection's end is this machine's own: 127.0.0.0/8, ::1 (or IPv4-mapped
    /// loopback), or a Unix socket. Traffic there never crosses a network.
    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .unixDomainSocket: return true
        case .v6 where address.ipAddress == "::1": return true
        default:
            if case .v4(let ip)? = ClientAddress(address) { return ip >> 24 == 127 }
            return false
        }
    }
}
