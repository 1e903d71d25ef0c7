import BuildServiceCore
import NIOCore
import NIOHTTP1

/// What every download of one stored artifact shares, made on its first request and kept
/// with its build's cached manifest (`ArtifactCache`): the validators, the headers of the
/// plain `200` answer, and for a small file its bytes. A small file's download is then a
/// `stat` of the manifest and one write: no open, no read, no header formatting.
/// A class: every request takes the cached one, and a reference is one retain where a copy of
/// the fields was a dozen.
final class PreparedArtifact: Sendable {
    let artifact: StoredArtifact
    /// Strong: the SHA-256, or size and time for an adopted set whose digest is not computed yet.
    let etag: String
    /// `attachment; filename=…`.
    let disposition: String
    /// The headers every answer about the file has, 304 included.
    let validatorHeaders: HTTPHeaders
    /// The headers of a full `200` download.
    let fullHeaders: HTTPHeaders
    /// The whole file, when it is at most `ArtifactCache.contentLimit` bytes and read.
    let content: ByteBuffer?

    init(_ artifact: StoredArtifact, content: ByteBuffer? = nil) {
        self.artifact = artifact
        etag = artifact.sha256.isEmpty ? "\"\(artifact.size)-\(artifact.modified)\"" : "\"\(artifact.sha256)\""
        disposition = ArtifactResponse.contentDisposition(for: artifact.name)
        var validators = HTTPHeaders()
        validators.add(name: "Accept-Ranges", value: "bytes")
        validators.add(name: "ETag", value: etag)
        validators.add(name: "Last-Modified", value: HTTPDate.format(artifact.modified))
        validators.add(name: "Cache-Control", value: "private")
        validators.add(name: "X-Content-Type-Options", value: "nosniff")
        validatorHeaders = validators
        var headers = validators
        headers.add(name: "Content-Disposition", value: disposition)
        headers.add(name: "Content-Type", value: artifact.contentType)
        headers.add(name: "Content-Length", value: String(artifact.size))
        fullHeaders = headers
        self.content = content
    }
}
