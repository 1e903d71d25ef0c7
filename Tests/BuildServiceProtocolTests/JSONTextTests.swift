import Foundation
import NIOCore
import Testing

@testable import BuildServiceProtocol

/// JSONText writes the string values of every event line by hand; whatever a build prints must
/// come out as one valid JSON string on one line.
struct JSONTextTests {
    static let awkwardStrings: [String] = [
        "plain",
        "",
        "line one\nline two\n",
        "carriage\r\nreturn",
        "tab\there",
        "nul\u{0}byte",
        "unit separator\u{1f}",
        "say \"hi\"",
        "back\\slash \\n not a newline",
        "line\u{2028}separator\u{2029}paragraph",
        "bell\u{7}backspace\u{8}formfeed\u{c}vertical\u{b}escape\u{1b}[0m",
        "delete\u{7f}",
        "ünïcödé € 😀 𝄞",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }),
    ]

    private static func encoded(_ value: String) -> [UInt8] {
        var buffer = ByteBuffer()
        JSONText.writeString(value, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    @Test(arguments: awkwardStrings)
    func encodedStringHasNoRawControlCharacters(value: String) {
        let bytes = Self.encoded(value)
        #expect(!bytes.contains { $0 < 0x20 }, "\(bytes)")
        #expect(bytes.first == UInt8(ascii: "\""))
        #expect(bytes.last == UInt8(ascii: "\""))
    }

    @Test(arguments: awkwardStrings)
    func encodedStringParsesBackToTheSameString(value: String) throws {
        let bytes = Self.encoded(value)
        let parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)
        #expect(parsed as? String == value)
    }

    @Test func commonEscapesUseTheirShortForms() {
        let text = String(decoding: Self.encoded("\"\\\n\r\t\u{8}\u{c}"), as: UTF8.self)
        #expect(text == #""\"\\\n\r\t\b\f""#)
    }

    @Test func otherControlCharactersUseLowercaseUnicodeEscapes() {
        let text = String(decoding: Self.encoded("\u{0}\u{1f}\u{1b}"), as: UTF8.self)
        #expect(text == #""\u0000\u001f\u001b""#)
    }

    @Test func nonASCIITextIsCopiedAsUTF8() {
        let value = "€😀\u{2028}"
        #expect(Self.encoded(value) == [UInt8(ascii: "\"")] + Array(value.utf8) + [UInt8(ascii: "\"")])
    }

    @Test func writingAppendsAfterWhatIsAlreadyInTheBuffer() {
        var buffer = ByteBuffer(string: "{\"k\":")
        JSONText.writeString("v\n", to: &buffer)
        #expect(String(buffer: buffer) == #"{"k":"v\n""#)
    }
}
