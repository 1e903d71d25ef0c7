import Foundation
import Testing

@testable import BuildServiceCore

/// Signed links: an expired one is told from a changed one (410 against 403), and a build read
/// again hands out links signed from that moment, never past the artifact's own removal.
@Suite struct ArtifactURLSignerTests {
    let signer = ArtifactURLSigner(key: Array(repeating: 9, count: 32), lifetimeSec: 3600)
    let id = "bld_0123456789abcdef0123456789abcdef"

    private func parts(_ query: String) -> (expires: String, sig: String) {
        let fields = Dictionary(
            uniqueKeysWithValues: query.split(separator: "&").map { pair in
                let kv = pair.split(separator: "=", maxSplits: 1)
                return (String(kv[0]), String(kv[1]))
            }
        )
        return (fields["expires"]!, fields["sig"]!)
    }

    @Test func aLinkIsValidThenExpiredAndAChangedOneIsInvalid() {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let (expires, sig) = parts(signer.query(buildID: id, name: "out/app.bin", now: issued))
        #expect(expires == "1800003600")
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: expires, sig: sig, now: issued) == .valid)
        let later = issued.addingTimeInterval(3601)
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: expires, sig: sig, now: later) == .expired(at: 1_800_003_600))
        // Changed: the expiry, the path, the build, the signature; each is invalid, expired or not.
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: "1900003600", sig: sig, now: issued) == .invalid)
        #expect(signer.check(buildID: id, name: "out/other.bin", expires: expires, sig: sig, now: later) == .invalid)
        #expect(signer.check(buildID: "bld_" + String(repeating: "f", count: 32), name: "out/app.bin", expires: expires, sig: sig) == .invalid)
        let flipped = String(sig.dropLast()) + (sig.hasSuffix("0") ? "1" : "0")
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: expires, sig: flipped, now: later) == .invalid)
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: "soon", sig: sig) == .invalid)
    }

    @Test func renewalSignsFromNowButNeverPastTheArtifactsRemoval() {
        let issued = Date(timeIntervalSince1970: 1_800_000_000)
        let old = "https://h/v1/builds/\(id)/artifacts/out/app.bin?" + signer.query(buildID: id, name: "out/app.bin", now: issued)
        let aDayLater = issued.addingTimeInterval(86_000)
        let removal = issued.addingTimeInterval(86_400)
        let renewed = signer.renewed(old, buildID: id, name: "out/app.bin", notAfter: removal, now: aDayLater)
        #expect(renewed.hasPrefix("https://h/v1/builds/\(id)/artifacts/out/app.bin?expires=1800086400&sig="), "\(renewed)")
        let (expires, sig) = parts(String(renewed.split(separator: "?")[1]))
        #expect(signer.check(buildID: id, name: "out/app.bin", expires: expires, sig: sig, now: aDayLater) == .valid)
        // Far from the removal: the full lifetime.
        let early = signer.renewed(old, buildID: id, name: "out/app.bin", notAfter: removal, now: issued.addingTimeInterval(60))
        #expect(early.contains("?expires=1800003660&sig="), "\(early)")
        // A link that needs no signature (auth off) stays as it is.
        let open = "http://h/v1/builds/\(id)/artifacts/out/app.bin"
        #expect(signer.renewed(open, buildID: id, name: "out/app.bin", notAfter: removal) == open)
    }

    /// A page link is for that build's page only: not an artifact's (whatever the artifact is
    /// called), not the event stream's, not another build's page; and the other way round.
    @Test func pageEventsAndArtifactSignaturesAreNotInterchangeable() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let page = parts(signer.query(buildID: id, path: .page, now: now))
        let events = parts(signer.query(buildID: id, path: .events, now: now))
        #expect(signer.check(buildID: id, path: .page, expires: page.expires, sig: page.sig, now: now) == .valid)
        #expect(signer.check(buildID: id, path: .events, expires: events.expires, sig: events.sig, now: now) == .valid)
        #expect(page.sig != events.sig)
        for name in ["page", "events", "", "page/\(id)"] {
            #expect(signer.check(buildID: id, name: name, expires: page.expires, sig: page.sig, now: now) == .invalid, "\(name)")
            let artifact = parts(signer.query(buildID: id, name: name, now: now))
            #expect(signer.check(buildID: id, path: .page, expires: artifact.expires, sig: artifact.sig, now: now) == .invalid, "\(name)")
            #expect(signer.check(buildID: id, path: .events, expires: artifact.expires, sig: artifact.sig, now: now) == .invalid, "\(name)")
        }
        #expect(signer.check(buildID: id, path: .events, expires: page.expires, sig: page.sig, now: now) == .invalid)
        #expect(signer.check(buildID: id, path: .page, expires: events.expires, sig: events.sig, now: now) == .invalid)
        let other = "bld_" + String(repeating: "e", count: 32)
        #expect(signer.check(buildID: other, path: .page, expires: page.expires, sig: page.sig, now: now) == .invalid)
        // Expiry is told apart for pages as for artifacts.
        #expect(
            signer.check(buildID: id, path: .page, expires: page.expires, sig: page.sig, now: now.addingTimeInterval(3601))
                == .expired(at: 1_800_003_600)
        )
    }

    /// Links handed out before pages existed still verify: an artifact's signed message did
    /// not change (HMAC-SHA-256 of "id NUL name NUL expires", checked with openssl's numbers).
    @Test func anArtifactSignatureIsTheOneEarlierVersionsMade() {
        let sig = parts(signer.query(buildID: id, name: "out/app.bin", now: Date(timeIntervalSince1970: 1_800_000_000))).sig
        #expect(sig == "aebef47b66be3924cb1eba05294979755ac46279fe239a6810b8f514d3e06e5d")
    }
}
