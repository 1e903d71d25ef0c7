import FoundationEssentials
import Glibc

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
        return decimal(value, places: 1) + " " + units[unit]
    }

    /// `value` with `places` digits after the point (rounded half away from zero), as `%.Nf`
    /// writes it for the values people see here; FoundationEssentials has no String(format:).
    public static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        var fraction = String(scaled % Int(scale))
        while fraction.count < places { fraction = "0" + fraction }
        let sign = value < 0 && scaled > 0 ? "-" : ""
        return places == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }
}
