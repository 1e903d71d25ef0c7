public import NIOCore

extension TimeAmount {
    /// `seconds` as a `TimeAmount`, or the largest one there is when it does not fit: NIO's
    /// `.seconds(_:)` multiplies into an `Int64` of nanoseconds and traps past 292 years.
    public static func seconds(saturating seconds: Int) -> TimeAmount {
        .init(saturating: .seconds(seconds))
    }

    /// `duration` as a `TimeAmount`, saturating instead of trapping where its nanoseconds do
    /// not fit an `Int64`.
    public init(saturating duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow || overflowAgain {
            self = .nanoseconds(seconds < 0 ? .min : .max)
        } else {
            self = .nanoseconds(total)
        }
    }
}
