import BuildClient
import FoundationEssentials
import Glibc

extension ArtifactDownloader {
    /// build-cli's downloads (after a build and `download ID`): a progress line when stderr is a
    /// terminal, then a `saved …` line per artifact on stderr.
    static func forCLI(client: BuildServiceClient, directory: String, existingFiles: ExistingFiles) -> ArtifactDownloader {
        var downloader = ArtifactDownloader(client: client, directory: directory, showProgress: isatty(STDERR_FILENO) == 1)
        downloader.existingFiles = existingFiles
        downloader.report = { line in EventPrinter.complain(line) }
        return downloader
    }
}
