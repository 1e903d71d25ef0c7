import FoundationEssentials
import Glibc
import NIOCore

/// What a failed system call or file operation says to a person: the system's own words
/// (`Permission denied`, `Address already in use`), never Foundation's "The operation could not
/// be completed", `NSCocoaErrorDomain error 512`, NIO's `bind(descriptor:ptr:bytes:) (errno: 13)`
/// or a Swift type name.
public enum SystemErrorText {
    public static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return text(errno: error.errnoCode) }
        if let error = error as? POSIXError { return text(errno: error.code.rawValue) }
        if let error = error as? ChannelError { return describe(channel: error) }
        if let error = error as? CocoaError {
            if let underlying = error.underlying as? POSIXError { return text(errno: underlying.code.rawValue) }
            return describe(cocoaCode: error.code)
        }
        return "\(error)"
    }

    /// strerror's text for `errno`.
    public static func text(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func describe(cocoaCode code: CocoaError.Code) -> String {
        switch code {
        case .fileNoSuchFile, .fileReadNoSuchFile: text(errno: ENOENT)
        case .fileWriteNoPermission, .fileReadNoPermission: text(errno: EACCES)
        case .fileWriteFileExists: text(errno: EEXIST)
        case .fileWriteOutOfSpace: text(errno: ENOSPC)
        case .fileWriteVolumeReadOnly: text(errno: EROFS)
        case .fileReadTooLarge: text(errno: EFBIG)
        case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: "the file is not valid text"
        default: "the file operation failed"
        }
    }

    private static func describe(channel error: ChannelError) -> String {
        switch error {
        case .connectTimeout: "the connection timed out"
        case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: "the connection was closed"
        default: "the connection failed"
        }
    }
}
