import BuildServiceProtocol
import Foundation

/// The in-place reader of the plain form (`BuildRequest.decodePlain`) only has to agree with
/// `JSONDecoder` on what it accepts: whatever it reads, JSONDecoder must read the same way.
enum RequestDecoderFuzzing {
    static func run(_ input: [UInt8]) -> String? {
        let plain = input.withUnsafeBytes { BuildRequest.decodePlain($0) }
        guard let plain else { return nil }
        let oracle = try? JSONDecoder().decode(BuildRequest.self, from: Data(input))
        guard plain == oracle else {
            return "the plain reader read \(plain), JSONDecoder \(oracle.map { "\($0)" } ?? "nothing")"
        }
        return nil
    }
}
