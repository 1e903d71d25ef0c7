/// The daemon's version, as `--version` and `/healthz` report it.
public enum BuildServiceVersion {
    public static let text = "0.2.0"
}
