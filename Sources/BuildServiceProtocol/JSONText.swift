import CBuildServiceJSONScan
public import NIOCore

/// Writes JSON text straight into a ByteBuffer. Event lines are hot (one per output chunk),
/// so they are encoded by hand instead of through a reflective encoder.
public enum JSONText {
    /// Appends `value` as a quoted JSON string. Control characters are escaped, everything else
    /// is copied as UTF-8, so the line can never contain a raw newline. (A String is valid UTF-8,
    /// so the lossy output path writes it unchanged: one escaper for every string we send.)
    public static func writeString(_ value: String, to buffer: inout ByteBuffer) {
        var value = value
        value.withUTF8 { writeLossyUTF8String(UnsafeRawBufferPointer($0), to: &buffer) }
    }
}
