import BuildServiceProtocol
import NIOHTTP1

/// Requests a browser sends for another site's page (a form posted from it, a script's
/// fetch): browsers say so in `Sec-Fetch-Site`, which a page cannot forge. Refused wherever
/// they would change something: our forms, and builds started or cancelled through the API,
/// which matters most where the API needs no token (a page elsewhere could otherwise start
/// builds on a developer's loopback daemon with an auto-submitting form). Programs (curl,
/// build-cli) send no such header.
enum CrossSiteRequest {
    static func refusal(_ head: HTTPRequestHead) -> ServiceError? {
        guard let site = head.headers.first(name: "Sec-Fetch-Site"), site == "cross-site" || site == "same-site" else { return nil }
        return ServiceError(.csrfRefused, "a request from another site's page may not act on this service (Sec-Fetch-Site: \(site))")
    }
}
