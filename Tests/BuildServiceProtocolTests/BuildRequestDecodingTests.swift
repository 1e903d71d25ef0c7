import Foundation
import NIOCore
import Testing

@testable import BuildServiceProtocol

/// `BuildRequest.decode(from:)` turns every malformed body into `invalid_request` with a message
/// that tells the client which field is wrong.
struct BuildRequestDecodingTests {
    /// Decodes `json` the way the daemon does (from a ByteBuffer, the plain form read in place)
    /// and through JSONDecoder alone, and expects the same request or the same error from both.
    private static func decode(_ json: String) throws(ServiceError) -> BuildRequest {
        let general = Result { () throws(ServiceError) in try BuildRequest.decode(from: Data(json.utf8)) }
        let daemon = Result { () throws(ServiceError) in try BuildRequest.decode(from: ByteBuffer(string: json)) }
        #expect(daemon == general, "\(json)")
        return try daemon.get()
    }

    /// The error `decode` throws for `json`, or nil when it decodes.
    private static func failure(_ json: String) -> ServiceError? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func envIsAnObjectOfStrings() throws {
        let request = try Self.decode(#"{"project_id":"demo","command":"make","env":{"CFLAGS":"-O0","OPT":""}}"#)
        #expect(request.env == ["CFLAGS": "-O0", "OPT": ""])
        #expect(Self.failure(#"{"project_id":"demo","command":"make","env":{"CFLAGS":1}}"#)?.message.contains("env.CFLAGS") == true)
        #expect(Self.failure(#"{"project_id":"demo","command":"make","env":["CFLAGS"]}"#)?.message.contains("object of strings") == true)
        #expect(Self.failure(#"{"project_id":"demo","command":"make","env":{"A":"x\u0000y"}}"#)?.message.contains("NUL") == true)
    }

    @Test func minimalRequestGetsDefaults() throws {
        let request = try Self.decode(#"{"project_id":"demo","command":"make"}"#)
        #expect(request.projectID == "demo")
        #expect(request.command == "make")
        #expect(request.args == [])
        #expect(request.cwd == nil)
        #expect(request.timeoutSec == nil)
        #expect(request.ref == nil)
        #expect(request.requestID == nil)
        #expect(request.schemaVersion == nil)
        #expect(request.authToken == nil)
    }

    @Test func nullArgsAreTheSameAsNoArgs() throws {
        #expect(try Self.decode(#"{"project_id":"demo","command":"make","args":null}"#).args == [])
    }

    @Test func everyFieldIsRead() throws {
        let request = try Self.decode(
            """
            {"schema_version":"2","request_id":"r-1","project_id":"demo","command":"make",
             "args":["-j4","all"],"cwd":"sub","timeout_sec":30,"ref":"main","auth_token":"t0k"}
            """
        )
        #expect(
            request
                == BuildRequest(
                    schemaVersion: "2",
                    requestID: "r-1",
                    projectID: "demo",
                    command: "make",
                    args: ["-j4", "all"],
                    cwd: "sub",
                    timeoutSec: 30,
                    ref: "main",
                    authToken: "t0k"
                )
        )
    }

    @Test func unknownExtraFieldsAreIgnored() throws {
        let request = try Self.decode(#"{"project_id":"demo","command":"make","colour":"blue","nested":{"a":[1,2]},"args":["x"]}"#)
        #expect(request.projectID == "demo")
        #expect(request.args == ["x"])
    }

    @Test(
        arguments: [
            (#"{"project_id":"demo","command":"make","timeout_sec":"10"}"#, #""timeout_sec""#),
            (#"{"project_id":"demo","command":"make","args":["a",1]}"#, #""args[1]""#),
            (#"{"project_id":"demo","command":"make","args":"all"}"#, #""args""#),
            (#"{"project_id":"demo","command":"make","args":{"0":"a"}}"#, #""args""#),
            (#"{"project_id":5,"command":"make"}"#, #""project_id""#),
            (#"{"project_id":"demo","command":["make"]}"#, #""command""#),
            (#"{"project_id":"demo","command":"make","cwd":true}"#, #""cwd""#),
            (#"{"project_id":"demo","command":"make","schema_version":2}"#, #""schema_version""#),
            (#"{"project_id":"demo","command":"make","ref":null,"request_id":7}"#, #""request_id""#),
        ]
    )
    func wrongTypeIsInvalidRequestNamingTheField(json: String, quotedField: String) throws {
        let error = try #require(Self.failure(json))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains(quotedField), "\(error.message)")
    }

    /// A number that is valid JSON but not an integer must not be reported as "not valid JSON":
    /// the body is JSON, and the client needs to know that timeout_sec is the problem.
    @Test(arguments: ["1.5", "1e30", "99999999999999999999"])
    func nonIntegerTimeoutIsInvalidRequestNamingTheField(number: String) throws {
        let error = try #require(Self.failure(#"{"project_id":"demo","command":"make","timeout_sec":"# + number + "}"))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains(#""timeout_sec""#), "\(error.message)")
    }

    @Test(
        arguments: [
            (#"{"command":"make"}"#, "project_id"),
            (#"{"project_id":"demo"}"#, "command"),
            (#"{"project_id":null,"command":"make"}"#, "project_id"),
        ]
    )
    func missingRequiredFieldIsInvalidRequestNamingIt(json: String, field: String) throws {
        let error = try #require(Self.failure(json))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("\"\(field)\""), "\(error.message)")
    }

    @Test(
        arguments: [
            (#"{"project_id":"demo","command":"make","args":["ok","a\u0000b"]}"#, "args[1]"),
            (#"{"project_id":"demo","command":"make","cwd":"sub\u0000/.."}"#, "cwd"),
            (#"{"project_id":"de\u0000mo","command":"make"}"#, "project_id"),
            (#"{"project_id":"demo","command":"make\u0000"}"#, "command"),
            (#"{"project_id":"demo","command":"make","ref":"\u0000"}"#, "ref"),
        ]
    )
    func nulByteInAStringIsRejectedNamingTheField(json: String, field: String) throws {
        let error = try #require(Self.failure(json))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("\"\(field)\""), "\(error.message)")
        #expect(error.message.contains("NUL"), "\(error.message)")
    }

    @Test(arguments: ["", "{", "not json", #"{"project_id":"demo","command":"make""#, "\u{FEFF}\u{0}"])
    func bodyThatIsNotJSONIsInvalidRequest(body: String) throws {
        let error = try #require(Self.failure(body))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("JSON"), "\(error.message)")
    }

    @Test(arguments: ["[]", #"[{"project_id":"demo","command":"make"}]"#, "\"make\"", "42", "null"])
    func jsonThatIsNotAnObjectIsInvalidRequest(body: String) throws {
        let error = try #require(Self.failure(body))
        #expect(error.code == .invalidRequest)
        #expect(error.httpStatus == 400)
    }

    @Test func invalidUTF8IsInvalidRequest() throws {
        var body = Data(#"{"project_id":"demo","command":"make","args":[""#.utf8)
        body.append(contentsOf: [0xFF, 0xFE])
        body.append(contentsOf: Data(#""]}"#.utf8))
        #expect(throws: ServiceError.self) { try BuildRequest.decode(from: body) }
    }

    /// The plain form read in place gives what JSONDecoder gives, over many shapes of valid
    /// requests; forms it does not read (escapes, repeated or unknown keys, fractions) are left
    /// to JSONDecoder.
    @Test func thePlainFormReadsLikeJSONDecoder() throws {
        let values: [(String, [String])] = [
            ("schema_version", [#""2""#, "null"]),
            ("request_id", [#""r-1""#, #""ünï ✓""#, "null"]),
            ("args", ["[]", #"["-j4","all"]"#, #"[ "a" , "b c" ]"#, "null"]),
            ("cwd", [#""sub/dir""#, #""""#, "null"]),
            ("timeout_sec", ["0", "30", "-5", "123456789012345678", "null"]),
            ("ref", [#""main""#, "null"]),
            ("auth_token", [#""t0k""#]),
            ("heartbeat_sec", ["1", "3600", "null"]),
        ]
        for (index, (key, choices)) in values.enumerated() {
            for value in choices {
                for spacing in ["", " ", "\n\t "] {
                    let body = "{\(spacing)\"project_id\":\(spacing)\"demo\",\"command\":\"make\",\(spacing)\"\(key)\"\(spacing):\(value)\(spacing)}"
                    let plain = try #require(
                        body.utf8.withContiguousStorageIfAvailable { BuildRequest.decodePlain(UnsafeRawBufferPointer($0)) } ?? nil,
                        "\(index): \(body)"
                    )
                    #expect(plain == (try? JSONDecoder().decode(BuildRequest.self, from: Data(body.utf8))), "\(body)")
                }
            }
        }
        let others = [
            #"{"project_id":"de\u006do","command":"make"}"#,
            #"{"project_id":"demo","command":"make","command":"true"}"#,
            #"{"project_id":"demo","command":"make","ref":null,"ref":"x"}"#,
            #"{"project_id":"demo","command":"make","colour":"blue"}"#,
            #"{"project_id":"demo","command":"make","timeout_sec":1.0}"#,
            #"{"project_id":"demo","command":"make","timeout_sec":1e2}"#,
            #"{"project_id":"demo","command":"make","timeout_sec":012}"#,
            #"{"project_id":"demo","command":"make"} x"#,
            #"{"project_id":"demo","command":"make",}"#,
        ]
        for body in others {
            #expect(body.utf8.withContiguousStorageIfAvailable { BuildRequest.decodePlain(UnsafeRawBufferPointer($0)) } ?? nil == nil, "\(body)")
            _ = Self.failure(body)  // whatever it is, both paths agree on it
        }
    }

    /// Mangled bodies (bytes replaced, inserted, dropped) never crash the in-place reader, and
    /// whatever it accepts, JSONDecoder reads the same way.
    @Test func mangledBodiesNeverMakeThePlainReaderDisagree() {
        let base = Array(#"{"project_id":"demo","command":"make","args":["-j4","all"],"timeout_sec":30,"cwd":null}"#.utf8)
        let interesting: [UInt8] = Array(#"{}[]",:\ 0123456789-.enul"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        for _ in 0..<5000 {
            var body = base
            for _ in 0...next(3) {
                let position = next(body.count + 1)
                switch next(3) {
                case 0 where position < body.count: body[position] = interesting[next(interesting.count)]
                case 1: body.insert(interesting[next(interesting.count)], at: position)
                default: if position < body.count { body.remove(at: position) }
                }
            }
            let plain = body.withUnsafeBytes { BuildRequest.decodePlain($0) }
            if let plain {
                #expect(plain == (try? JSONDecoder().decode(BuildRequest.self, from: Data(body))), "\(String(decoding: body, as: UTF8.self))")
            }
        }
    }
}
