#ifndef BUILD_SERVICE_VERSION_H
#define BUILD_SERVICE_VERSION_H

/// The commit the binaries were built from: what `-DBUILD_SERVICE_COMMIT="…"` said at build
/// time (scripts/build-release.sh passes it), else "unknown". SwiftPM has no other way to
/// hand a value from the build command to the code.
const char *bs_build_commit(void);

#endif
