/// Where a build is in its life.
public enum BuildPhase: String, Sendable, CaseIterable {
    case queued, running, finished
}
