/// A config file assembled from sections, valid as it is (given an existing project root), so a
/// test changes only the part it is about. TOML does not allow a table twice, hence the fields.
struct ConfigText {
    var schema: String? = #"schema_version = "2""#
    var socket = """
        enabled = true
        path = "/tmp/build-service-unit-test.sock"
        """
    var socketAuth: String?
    var http = "enabled = false"
    var httpAuth: String?
    var tls: String?
    var commands = """
        make = "/usr/bin/make"
        sh = "/bin/sh"
        true = "/bin/true"
        """
    var timeouts: String?
    /// The `[build]` table's own keys.
    var build = "allow_root_builds = true"
    /// The body of each `[[projects]]` entry.
    var projects: [String]
    var logging: String?
    /// Extra text appended at the end (for unknown tables).
    var extra: String?

    init(projectRoot: String) {
        projects = [
            """
            id = "demo"
            type = "path"
            path_root = "\(projectRoot)"
            commands = ["make", "sh"]
            """
        ]
    }

    var text: String {
        var sections: [String] = []
        if let schema { sections.append(schema) }
        sections.append("[service.socket]\n\(socket)")
        if let socketAuth { sections.append("[service.socket.auth]\n\(socketAuth)") }
        sections.append("[service.http]\n\(http)")
        if let httpAuth { sections.append("[service.http.auth]\n\(httpAuth)") }
        if let tls { sections.append("[service.http.tls]\n\(tls)") }
        // Tests run as root in CI; builds as root are what they mean.
        sections.append("[build]\n\(build)")
        sections.append("[build.commands]\n\(commands)")
        if let timeouts { sections.append("[build.timeouts]\n\(timeouts)") }
        for project in projects { sections.append("[[projects]]\n\(project)") }
        if let logging { sections.append("[logging]\n\(logging)") }
        if let extra { sections.append(extra) }
        return sections.joined(separator: "\n\n") + "\n"
    }
}
