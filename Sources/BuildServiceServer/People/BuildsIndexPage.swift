import Foundation

/// `/` with a session: the builds its token may see, newest first, filtered by project and
/// state, each linked to its page; running and queued ones with a cancel button. Every form
/// that changes something carries the session's CSRF token.
struct BuildsIndexPage {
    let builds: [BuildStatusDocument]
    /// Projects to filter by.
    let projects: [String]
    let project: String?
    let state: String?
    /// The session's: every form that changes something carries it.
    let csrfToken: String
    /// Whether the session came from a login (where no token is required there is nothing to
    /// log out of).
    let loggedIn: Bool
    /// A line from the last action (`cancel`).
    let notice: String?

    var html: String {
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Builds · build-service</title>
            <link rel="stylesheet" href="\(PageAssets.styleSheetPath)"></head><body>
            <header class="bar"><h1>Builds</h1>
            """
        if loggedIn {
            page += """
                <form method="post" action="/logout"><input type="hidden" name="csrf" value="\(HTMLText.escaped(csrfToken))">\
                <button type="submit">Log out</button></form>
                """
        }
        page += "</header>\n"
        if let notice { page += "<p class=\"notice\" role=\"status\">\(HTMLText.escaped(notice))</p>\n" }
        page += filterForm
        guard !builds.isEmpty else { return page + "<p class=\"muted\">No builds.</p>\n</body></html>\n" }
        page +=
            "<div class=\"table\"><table><thead><tr><th>Build</th><th>Project</th><th>Command</th><th>State</th><th>Submitted</th><th></th></tr></thead><tbody>\n"
        for build in builds {
            let state = BuildPage.stateLabel(build)
            page +=
                "<tr><td><a href=\"/v1/builds/\(HTMLText.escaped(build.id))/page\"><code>\(HTMLText.escaped(String(build.id.prefix(12))))…</code></a></td>"
            page += "<td>\(HTMLText.escaped(build.project))</td>"
            let command = ([build.command] + build.args).joined(separator: " ")
            page += "<td><code>\(HTMLText.escaped(command.count > 80 ? String(command.prefix(80)) + "…" : command))</code></td>"
            page += "<td><span class=\"state \(state.style)\">\(HTMLText.escaped(state.text))</span></td>"
            page += "<td>\(BuildPage.time(build.submittedAt))</td><td>"
            if build.state != "finished" {
                page += """
                    <form method="post" action="/cancel"><input type="hidden" name="build" value="\(HTMLText.escaped(build.id))">\
                    <input type="hidden" name="csrf" value="\(HTMLText.escaped(csrfToken))">\
                    <button type="submit" class="cancel">Cancel</button></form>
                    """
            }
            page += "</td></tr>\n"
        }
        return page + "</tbody></table></div>\n</body></html>\n"
    }

    private var filterForm: String {
        func option(_ value: String, _ label: String, selected: Bool) -> String {
            "<option value=\"\(HTMLText.escaped(value))\"\(selected ? " selected" : "")>\(HTMLText.escaped(label))</option>"
        }
        var form = "<form class=\"filter\" method=\"get\" action=\"/\"><label>Project <select name=\"project\">"
        form += option("", "all", selected: project == nil)
        for name in projects { form += option(name, name, selected: project == name) }
        form += "</select></label> <label>State <select name=\"state\">"
        form += option("", "any", selected: state == nil)
        for name in ["queued", "running", "finished"] { form += option(name, name, selected: state == name) }
        return form + "</select></label> <button type=\"submit\">Show</button></form>\n"
    }
}
