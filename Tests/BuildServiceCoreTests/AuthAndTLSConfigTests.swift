import BuildServiceCore
import Foundation
import Testing

/// The keys issue 3 adds: `service.http.tls.*`, token entries, `tokens_file`, and the refusal
/// to send tokens in clear over a non-loopback listener.
struct AuthAndTLSConfigTests {
    let directory: TemporaryDirectory
    let base: ConfigText

    init() throws {
        directory = try TemporaryDirectory()
        var config = ConfigText(projectRoot: directory.path)
        config.http = "enabled = true\nlisten_addr = \"127.0.0.1:0\""
        base = config
    }

    /// Writes the config to a file and loads it as the daemon does (tokens_file included).
    private func load(_ config: ConfigText) throws(ConfigError) -> ServiceConfig {
        let path = directory.path + "/config.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(config.text.utf8))
        return try ServiceConfig.load(path: path, environment: [:])
    }

    private func expectFailure(
        _ config: ConfigText,
        key: String,
        mentioning fragment: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try load(config)
            Issue.record("valid, expected an error for \(key)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
            if let fragment { #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation) }
        }
    }

    /// A self-signed ECDSA certificate and key made by the openssl CLI.
    private func makeCertificate(name: String) throws -> (cert: String, key: String) {
        let cert = "\(directory.path)/\(name).pem"
        let key = "\(directory.path)/\(name).key"
        let made = try ChildProcess.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=\(name)",
            ]
        )
        try #require(made.status == 0)
        return (cert, key)
    }

    /// The first round's sample config shipped a working token in plain sight.
    @Test func theSamplesPlaceholderTokenIsRefused() {
        var config = base
        config.httpAuth = "required = true\ntokens = [\"a-real-token\", \"change-me-to-a-long-random-token\"]"
        expectFailure(config, key: "service.http.auth.tokens[1]", mentioning: "openssl rand -hex 32")
    }

    @Test func tlsWithAValidCertificateLoads() throws {
        var config = base
        let (cert, key) = try makeCertificate(name: "server")
        config.tls = "enabled = true\ncert_path = \"\(cert)\"\nkey_path = \"\(key)\"\nmin_version = \"1.3\""
        let loaded = try load(config)
        #expect(loaded.http.tls.minVersion == .tls13)
        #expect(try loaded.makeTLSContext().leafCertificate?.subject == "CN=server")
    }

    @Test func missingCertificateFileIsNamed() throws {
        var config = base
        let (_, key) = try makeCertificate(name: "server")
        config.tls = "enabled = true\ncert_path = \"\(directory.path)/absent.pem\"\nkey_path = \"\(key)\""
        expectFailure(config, key: "service.http.tls", mentioning: "absent.pem: cannot read")
    }

    @Test func keyOfAnotherCertificateIsRefusedNamingBothFiles() throws {
        var config = base
        let (cert, _) = try makeCertificate(name: "server")
        let (_, otherKey) = try makeCertificate(name: "other")
        config.tls = "enabled = true\ncert_path = \"\(cert)\"\nkey_path = \"\(otherKey)\""
        expectFailure(config, key: "service.http.tls", mentioning: "other.key does not belong to the certificate in \(cert)")
    }

    @Test func garbageInsteadOfPEMIsRefused() throws {
        var config = base
        let (_, key) = try makeCertificate(name: "server")
        let garbage = "\(directory.path)/garbage.pem"
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("not a certificate\n".utf8))
        config.tls = "enabled = true\ncert_path = \"\(garbage)\"\nkey_path = \"\(key)\""
        expectFailure(config, key: "service.http.tls", mentioning: "garbage.pem: not a usable PEM certificate chain")
    }

    @Test func tlsWithoutKeyPathIsRefused() throws {
        var config = base
        let (cert, _) = try makeCertificate(name: "server")
        config.tls = "enabled = true\ncert_path = \"\(cert)\""
        expectFailure(config, key: "service.http.tls.key_path")
    }

    @Test func clientAuthWithoutClientCAIsRefused() throws {
        var config = base
        let (cert, key) = try makeCertificate(name: "server")
        config.tls = "enabled = true\ncert_path = \"\(cert)\"\nkey_path = \"\(key)\"\nclient_auth = \"required\""
        expectFailure(config, key: "service.http.tls.client_ca_path")
    }

    @Test func unknownMinVersionAndClientAuthValuesAreRefused() {
        var config = base
        config.tls = "min_version = \"1.1\""
        expectFailure(config, key: "service.http.tls.min_version", mentioning: "\"1.1\"")
        config.tls = "client_auth = \"maybe\""
        expectFailure(config, key: "service.http.tls.client_auth")
    }

    @Test func tokenEntriesOfEveryShapeAreRead() throws {
        var config = base
        let digest = String(repeating: "ab", count: 32)
        config.httpAuth = """
            required = true
            tokens = ["plain-one", { token_sha256 = "\(digest.uppercased())", name = "agent-a", projects = ["demo"] }, { token = "t2", name = "ci" }]
            """
        let tokens = try load(config).http.auth.tokens
        #expect(tokens.count == 3)
        #expect(tokens[0] == AuthToken(secret: .plain("plain-one")))
        #expect(tokens[1] == AuthToken(secret: .sha256(Array(repeating: 0xAB, count: 32)), name: "agent-a", projects: ["demo"]))
        #expect(tokens[2] == AuthToken(secret: .plain("t2"), name: "ci"))
    }

    @Test func badTokenEntriesNameTheEntry() {
        var config = base
        config.httpAuth = "required = true\ntokens = [{ token_sha256 = \"abc\" }]"
        expectFailure(config, key: "service.http.auth.tokens[0].token_sha256", mentioning: "64 hex digits")
        config.httpAuth = "required = true\ntokens = [\"ok\", { token = \"a\", token_sha256 = \"\(String(repeating: "0", count: 64))\" }]"
        expectFailure(config, key: "service.http.auth.tokens[1]", mentioning: "exactly one of token and token_sha256")
        config.httpAuth = "required = true\ntokens = [{ token = \"a\", projects = [\"nope\"] }]"
        expectFailure(config, key: "service.http.auth.tokens[0].projects", mentioning: "\"nope\"")
        config.httpAuth = "required = true\ntokens = [{ token = \"a\", scope = \"x\" }]"
        expectFailure(config, key: "service.http.auth.tokens[0].scope", mentioning: "unknown key")
        config.httpAuth = "required = true\ntokens = [42]"
        expectFailure(config, key: "service.http.auth.tokens[0]")
    }

    @Test func tokensFileAddsItsTokensSkippingCommentsAndBlankLines() throws {
        var config = base
        let file = directory.path + "/tokens"
        _ = FileManager.default.createFile(atPath: file, contents: Data("# agents\nfirst-token\n\n  second-token  \n".utf8))
        config.socketAuth = "required = true\ntokens_file = \"\(file)\""
        let tokens = try load(config).socket.auth.tokens
        #expect(tokens.map(\.secret) == [.plain("first-token"), .plain("second-token")])
    }

    @Test func unreadableOrMalformedTokensFileIsNamed() {
        var config = base
        config.socketAuth = "required = true\ntokens_file = \"\(directory.path)/absent\""
        expectFailure(config, key: "service.socket.auth.tokens_file", mentioning: "absent")
        let file = directory.path + "/tokens"
        _ = FileManager.default.createFile(atPath: file, contents: Data("ok\ntwo words\n".utf8))
        config.socketAuth = "required = true\ntokens_file = \"\(file)\""
        expectFailure(config, key: "service.socket.auth.tokens_file", mentioning: "line 2")
    }

    @Test func requiredAuthOnAPublicPlaintextListenerIsRefusedUnlessOptedIn() throws {
        var config = base
        config.http = "enabled = true\nlisten_addr = \"0.0.0.0:0\""
        config.httpAuth = "required = true\ntokens = [\"s3cret\"]"
        expectFailure(config, key: "service.http.tls.enabled", mentioning: "in clear")
        config.httpAuth = "required = true\ntokens = [\"s3cret\"]\nallow_plaintext_http = true"
        #expect(try load(config).http.auth.allowPlaintextHTTP)
        config.http = "enabled = true\nlisten_addr = \"127.0.0.1:0\""
        config.httpAuth = "required = true\ntokens = [\"s3cret\"]"
        #expect(try load(config).http.auth.required)
    }
}
