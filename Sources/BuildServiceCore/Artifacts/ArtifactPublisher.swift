import BuildServiceProtocol
import Foundation
import NIOPosix

/// After a successful build: collects the artifacts (off the event loop) and lists them in the
/// `exit` event with their URLs, signed when the request needed a token.
public struct ArtifactPublisher: Sendable {
    public let collector: ArtifactCollector
    public let signer: ArtifactURLSigner
    /// `artifacts.public_base_url`, without a trailing slash.
    public let publicBaseURL: String?

    public init(collector: ArtifactCollector, signer: ArtifactURLSigner, publicBaseURL: String?) {
        self.collector = collector
        self.signer = signer
        var base = publicBaseURL
        while base?.hasSuffix("/") == true { base?.removeLast() }
        self.publicBaseURL = base
    }

    /// - Throws: `ArtifactCollectionError`; nothing is published then.
    func publish(buildID: String, plan: BuildPlan, origin: RequestOrigin) async throws(ArtifactCollectionError) -> [ArtifactInfo] {
        let collector = self.collector
        let manifest: ArtifactManifest
        do {
            manifest = try await NIOThreadPool.singleton.runIfActive {
                try collector.collect(
                    buildID: buildID,
                    projectID: plan.projectID,
                    projectRoot: plan.projectRoot,
                    patterns: plan.artifactPatterns
                )
            }
        } catch let error as ArtifactCollectionError {
            throw error
        } catch {
            throw .failed("artifact collection did not run (\(error))")
        }
        return manifest.artifacts.map { artifact in
            ArtifactInfo(
                name: artifact.name,
                url: url(buildID: buildID, name: artifact.name, origin: origin),
                contentType: artifact.contentType,
                size: artifact.size,
                sha256: artifact.sha256
            )
        }
    }

    /// `public_base_url/<id>/<path>`, else `<listener>/v1/builds/<id>/artifacts/<path>`.
    func url(buildID: String, name: String, origin: RequestOrigin) -> String {
        let path = Self.percentEncodedPath(name)
        var url: String
        if let publicBaseURL {
            url = "\(publicBaseURL)/\(buildID)/\(path)"
        } else {
            url = "\(origin.artifactBaseURL ?? "")/v1/builds/\(buildID)/artifacts/\(path)"
        }
        if origin.signArtifactURLs { url += "?" + signer.query(buildID: buildID, name: name) }
        return url
    }

    /// The build page's link: `public_url`, else the listener the request came in on
    /// (path-only over the Unix socket), signed like the artifact links where those are.
    public func pageURL(buildID: String, origin: RequestOrigin) -> String {
        var url = "\(origin.pageBaseURL ?? "")/v1/builds/\(buildID)/page"
        if origin.signArtifactURLs { url += "?" + signer.query(buildID: buildID, path: .page) }
        return url
    }

    /// Each segment percent-encoded except RFC 3986 unreserved characters.
    public static func percentEncodedPath(_ name: String) -> String {
        name.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            var encoded = ""
            for byte in segment.utf8 {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                    encoded.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    encoded += String(format: "%%%02X", byte)
                }
            }
            return encoded
        }.joined(separator: "/")
    }
}
