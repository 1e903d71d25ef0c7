import BuildClient
import FoundationEssentials
import Glibc

/// The obvious next step after a failure, appended to its one-line message: the option that
/// supplies a token or a CA, the group that opens the socket.
enum NextStep {
    static func hint(for error: ClientError, tokenGiven: Bool, endpoint: Endpoint?) -> String? {
        switch error {
        case .refused(_, "unauthorized", _):
            return tokenGiven
                ? "the token was not accepted: check the file given to --token-file (or BUILD_SERVICE_TOKEN_FILE, --token)"
                : "this service needs a token: --token-file FILE or BUILD_SERVICE_TOKEN_FILE"
        case .tls(let message) where message.contains("local issuer") || message.contains("self-signed") || message.contains("self signed"):
            return "if the service's certificate comes from your own CA, give it with --cacert FILE (or BUILD_SERVICE_CACERT)"
        case .unreachable(let message) where message.contains("Permission denied"):
            guard case .unixSocket(let path)? = endpoint else { return nil }
            return socketGroupHint(path)
        default:
            return nil
        }
    }

    /// Who runs build-cli, as usermod wants it.
    private static var userName: String {
        getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? String(getuid())
    }

    /// Names the socket's group: joining it is what opens the socket.
    private static func socketGroupHint(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "only members of the socket's group may connect" }
        let group = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? String(info.st_gid)
        return "only members of group \(group) may connect: sudo usermod -aG \(group) \(userName), then log in again "
            + "(in a container: --group-add \(info.st_gid))"
    }
}
