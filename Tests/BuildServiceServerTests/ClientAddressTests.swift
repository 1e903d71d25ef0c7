import NIOCore
import Testing

@testable import BuildServiceServer

/// What the per-address connection cap counts by.
@Suite struct ClientAddressTests {
    private func key(_ ip: String) throws -> ClientAddress? {
        ClientAddress(try SocketAddress(ipAddress: ip, port: 443))
    }

    @Test func anIPv4AddressIsItsOwnKey() throws {
        #expect(try key("192.0.2.1") == .v4(0xC000_0201))
        #expect(try key("192.0.2.1") != key("192.0.2.2"))
    }

    /// A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d: the same client, the same key.
    @Test func anIPv4MappedAddressCountsAsTheIPv4Address() throws {
        #expect(try key("::ffff:192.0.2.1") == key("192.0.2.1"))
    }

    /// One host has a whole /64: its addresses count together; another /64 is another client.
    @Test func anIPv6AddressCountsByItsSlash64() throws {
        #expect(try key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(try key("2001:db8:1:2::1") != key("2001:db8:1:3::1"))
        #expect(try key("2001:db8:1:2::1") == .v6Prefix(0x2001_0db8_0001_0002))
    }

    @Test func aUnixPeerHasNoAddress() throws {
        #expect(ClientAddress(try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")) == nil)
        #expect(ClientAddress(nil) == nil)
    }

    /// Where a login may happen over plain HTTP: only this machine's own addresses.
    @Test func loopbackIsThisMachinesOwnAddressesOnly() throws {
        for local in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            #expect(ClientAddress.isLoopback(try SocketAddress(ipAddress: local, port: 80)), "\(local)")
        }
        for remote in ["192.0.2.1", "10.0.0.1", "::2", "2001:db8::1", "::ffff:192.0.2.1", "0.0.0.0"] {
            #expect(!ClientAddress.isLoopback(try SocketAddress(ipAddress: remote, port: 80)), "\(remote)")
        }
        #expect(ClientAddress.isLoopback(try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")))
    }
}
