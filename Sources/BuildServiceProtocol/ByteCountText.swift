import Foundation

/// Sizes as people read them, the same in build-cli's messages and on the daemon's pages.
public enum ByteCountText {
    /// `512 B`, `4.0 KiB`, `12.3 MiB`, `1.2 GiB`.
    public static func of(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        guard bytes >= 1024 else { return "\(bytes) B" }
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
