import Foundation

/// How an artifact opened with `?inline=1` is shown in the browser instead of downloaded: an
/// HTML report or an SVG as a document that can run nothing and reach nothing (CSP `sandbox`:
/// no scripts, an origin of its own, so no cookie or page of ours), text as plain text, images
/// as themselves. Anything else stays a download: a type a browser would act on (PDF viewer,
/// XML with stylesheets, JavaScript) is not opened for a build's files.
enum InlineArtifact {
    struct Presentation: Equatable {
        let contentType: String
        let policy: String
    }

    /// HTML and SVG may draw with their own styles and embedded images, nothing more.
    static let documentPolicy = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    /// Text and images: shown as they are, in a sandbox all the same.
    static let plainPolicy = "sandbox; default-src 'none'"

    /// nil: the artifact is downloaded even when asked for inline.
    static func presentation(contentType: String) -> Presentation? {
        let type = contentType.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
        switch type {
        case "text/html", "image/svg+xml":
            return Presentation(contentType: contentType, policy: documentPolicy)
        case "image/png", "image/jpeg", "image/gif", "image/webp":
            return Presentation(contentType: type, policy: plainPolicy)
        case "application/json":
            return Presentation(contentType: "application/json", policy: plainPolicy)
        case _ where type.hasPrefix("text/"), "application/xml":
            // Source, logs, CSV, CSS, JavaScript, XML: read, never run or styled.
            return Presentation(contentType: "text/plain; charset=utf-8", policy: plainPolicy)
        default:
            return nil
        }
    }

    /// Whether a request asks for the artifact inline.
    static func isRequested(_ query: [String: String]) -> Bool {
        query["inline"] == "1"
    }
}
