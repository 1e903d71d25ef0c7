import Foundation

/// A blocking TCP connection to 127.0.0.1:port, from `source` (any 127.x.y.z address: loopback
/// answers to all of them, which gives a test many client addresses).
func socketConnect(port: Int, from source: String? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if let source {
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw DaemonError("cannot bind to \(source)")
        }
    }
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

/// Sends `text` whole on a blocking socket.
func socketSend(_ fd: Int32, _ text: String) throws {
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
        let count = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { throw DaemonError("cannot send: \(String(cString: strerror(errno)))") }
        sent += count
    }
}

/// Reads one HTTP answer with a Content-Length body (or until the peer closes), waiting up to
/// `timeoutSec` for each read.
func readHTTPAnswer(_ fd: Int32, timeoutSec: Int = 10) -> String {
    var timeout = timeval(tv_sec: timeoutSec, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let text = String(decoding: bytes, as: UTF8.self)
        if let end = text.range(of: "\r\n\r\n"),
            let lengthLine = text[..<end.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
            text.utf8.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length
        {
            return text
        }
        let count = read(fd, &chunk, chunk.count)
        if count > 0 {
            bytes += chunk.prefix(count)
        } else if count < 0, errno == EINTR {
            continue
        } else {
            return text
        }
    }
}
