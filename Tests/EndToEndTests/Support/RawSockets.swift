import Foundation

/// A blocking TCP connection to 127.0.0.1:port.
func socketConnect(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        throw DaemonError("cannot connect to port \(port)")
    }
    return fd
}

/// Reads `fd` until the peer closes it (end-of-file or a reset) or nothing comes for
/// `timeoutSec`. A read interrupted by a signal (the test process's children exit all the time)
/// is retried.
/// - Returns: what was read, and whether the peer closed the connection.
func readUntilClosed(_ fd: Int32, timeoutSec: Int) -> (bytes: [UInt8], closed: Bool) {
    var timeout = timeval(tv_sec: timeoutSec, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count > 0 {
            bytes += chunk.prefix(count)
        } else if count == 0 || errno == ECONNRESET {
            return (bytes, true)
        } else if errno != EINTR {
            return (bytes, false)
        }
    }
}
