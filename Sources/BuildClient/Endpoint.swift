import FoundationEssentials
import Glibc

/// Where the build service is: its Unix socket, or an HTTP(S) URL.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    case unixSocket(path: String)
    case http(host: String, port: Int, basePath: String, tls: Bool)

    /// The packaged daemon's socket: in the unit's RuntimeDirectory, which containers mount as a
    /// directory (a mounted socket file goes stale when the daemon restarts).
    public static let packagedSocketPath = "/run/build-service/build.sock"
    /// The original build-service's default, which its configs and clients use.
    public static let originalSocketPath = "/run/build-service.sock"

    /// The socket to use when none is named: the packaged daemon's if its directory is there
    /// (while the daemon restarts the socket itself may be missing, and the error should name
    /// it), else the original's default.
    public static func defaultSocket(exists: (String) -> Bool) -> Endpoint {
        let directory = String(packagedSocketPath[..<packagedSocketPath.lastIndex(of: "/")!])
        return .unixSocket(path: exists(directory) ? packagedSocketPath : originalSocketPath)
    }

    public static func defaultSocket() -> Endpoint {
        defaultSocket { FileManager.default.fileExists(atPath: $0) }
    }

    /// Parses `http://host[:port][/prefix]` or `https://…`.
    /// - Throws: `ClientError.usage` naming the URL when it is not one of those.
    public static func parse(url text: String) throws(ClientError) -> Endpoint {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ClientError.usage("endpoint \"\(text)\" is not an http:// or https:// URL")
        }
        guard components.query == nil, components.fragment == nil, components.user == nil else {
            throw ClientError.usage("endpoint \"\(text)\" must not have a query, fragment or user part")
        }
        let tls = scheme == "https"
        let port = components.port ?? (tls ? 443 : 80)
        var basePath = components.percentEncodedPath
        while basePath.hasSuffix("/") { basePath.removeLast() }
        return .http(host: host, port: port, basePath: basePath, tls: tls)
    }

    /// The host name (or IP literal, without brackets) an https certificate must match.
    public var hostName: String? {
        guard case .http(let host, _, _, _) = self else { return nil }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    public var description: String {
        switch self {
        case .unixSocket(let path):
            return "unix socket \(path)"
        case .http(let host, let port, let basePath, let tls):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "\(tls ? "https" : "http")://\(shownHost):\(port)\(basePath)"
        }
    }
}
