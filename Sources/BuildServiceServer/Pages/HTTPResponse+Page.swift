import BuildServiceProtocol
import NIOCore
import NIOHTTP1

extension HTTPResponse {
    /// A refusal for a browser (a request that accepts `text/html`): the same status and code as
    /// the JSON one, as a small page a person can read. A link opened from a chat or a mail is
    /// the usual case: an expired one (410) says to ask for a fresh one, a changed one (403)
    /// that it is not valid.
    static func refusalPage(_ error: ServiceError) -> HTTPResponse {
        let title =
            switch error.code {
            case .linkExpired: "This link has expired"
            case .forbiddenSignature: "This link is not valid"
            default: "The build service refused this request"
            }
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(HTMLText.escaped(title))</title></head>
            <body><h1>\(HTMLText.escaped(title))</h1><p>\(HTMLText.escaped(error.message))</p>
            <p><small>HTTP \(error.httpStatus), code \(HTMLText.escaped(error.code.rawValue))</small></p></body></html>

            """
        // Nothing on it runs or loads.
        return .page(HTTPResponseStatus(statusCode: error.httpStatus), page, policy: "default-src 'none'")
    }

    /// A page of ours: never cached (it may carry signed links), never framed, and the signed
    /// URL it answers does not travel on in a Referer. `policy`: what it may load and run.
    static func page(_ status: HTTPResponseStatus, _ html: String, policy: String) -> HTTPResponse {
        let body = ByteBuffer(string: html)
        var headers = apiHeaders(contentType: "text/html; charset=utf-8", length: body.readableBytes)
        headers.add(name: "Content-Security-Policy", value: policy)
        headers.add(name: "X-Frame-Options", value: "DENY")
        headers.add(name: "Referrer-Policy", value: "no-referrer")
        return .complete(status, headers, body)
    }

    /// Whether the client prefers a page: a browser's `Accept` names text/html.
    static func wantsPage(_ head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "Accept"].contains { $0.lowercased().hasPrefix("text/html") }
    }
}

extension HTTPResponse {
    /// `303 See Other` to `location` (after a form), optionally setting a cookie.
    static func seeOther(_ location: String, cookie: String? = nil) -> HTTPResponse {
        var headers = apiHeaders(contentType: "text/plain; charset=utf-8", length: 0)
        headers.add(name: "Location", value: location)
        if let cookie { headers.add(name: "Set-Cookie", value: cookie) }
        return .complete(.seeOther, headers, nil)
    }

    /// This complete response with one more header (a streamed one as it is).
    func adding(name: String, value: String) -> HTTPResponse {
        guard case .complete(let status, var headers, let body) = self else { return self }
        headers.add(name: name, value: value)
        return .complete(status, headers, body)
    }
}
