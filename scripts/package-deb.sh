#!/bin/sh
# Debian packages from a checkout: build-service (the daemon, its unit, the sample config as a
# conffile, users, state directories, man pages, completions) and build-cli (the client and the
# make wrapper, for containers), plus a tarball of build-cli for images without dpkg.
#   sh scripts/package-deb.sh [OUT]        default OUT: .build/deb
# Uses the static release binaries of scripts/build-release.sh, pandoc for the man pages and
# dpkg-deb; runs lintian when it is installed (docs/operations.md lists the tags left and why).
set -eu
cd "$(dirname "$0")/.."
out="${1:-.build/deb}"
for tool in pandoc dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "package-deb.sh: needs $tool (apt-get install pandoc dpkg-dev)" >&2; exit 1; }
done
sh scripts/build-release.sh .build/dist
dist=.build/dist
version=$(sed -n 's/.*static let text = "\(.*\)".*/\1/p' Sources/BuildServiceProtocol/BuildServiceVersion.swift)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# Shared library dependencies of a binary, as dpkg-shlibdeps computes them (it wants a
# debian/control to sit in).
# (dash has no pipefail: each step's output goes to a file and is checked, so a failing tool
# cannot leave an empty Depends, man page or completion.)
shlibs() {
    mkdir -p "$work/shlibs/debian"
    printf 'Source: build-service\n\nPackage: build-service\nArchitecture: any\n' >"$work/shlibs/debian/control"
    (cd "$work/shlibs" && dpkg-shlibdeps -O "$OLDPWD/$1") >"$work/shlibs/out"
    depends=$(sed -n 's/^shlibs:Depends=//p' "$work/shlibs/out")
    case "$depends" in *libc6*) ;; *) echo "package-deb.sh: dpkg-shlibdeps $1 gave '$depends'" >&2; exit 1 ;; esac
    # OpenSSL is opened when first used (CShims/openssl/openssl_loader.c), not linked, so
    # dpkg-shlibdeps cannot see it: it is named here, as Debian 12 ships it.
    case "$depends" in *libssl3*) echo "$depends" ;; *) echo "$depends, libssl3 (>= 3.0.0)" ;; esac
}
# Fails unless the file has something in it.
nonempty() {
    [ -s "$1" ] || { echo "package-deb.sh: $1 came out empty" >&2; exit 1; }
}

# The changelog and copyright every package needs (a native package: changelog.gz).
documents() {
    package=$1
    doc="$work/$package/usr/share/doc/$package"
    install -d -m 755 "$doc"
    printf '%s (%s) bookworm; urgency=medium\n\n  * Built from commit %s.\n\n -- build-service developers <build-service@users.noreply.github.com>  %s\n' \
        "$package" "$version" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
        "$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n >"$doc/changelog.gz"
    install -m 644 packaging/copyright "$doc/copyright"
}

# A man page: the argument parser's help (scripts/man-page.py) or a document, through pandoc.
man_page() {
    markdown=$1 section=$2 name=$3 package=$4
    install -d -m 755 "$work/$package/usr/share/man/man$section"
    page="$work/$name.$section"
    # -smart: "--" stays two hyphens (an option), not an en dash.
    pandoc -s -f markdown-smart -t man -M date="$(date -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%d)" \
        -M footer="build-service $version" -o "$page" "$markdown"
    nonempty "$page"
    gzip -9n <"$page" >"$work/$package/usr/share/man/man$section/$name.$section.gz"
}

# Completions, made by the argument parser itself.
completions() {
    program=$1 package=$2
    root="$work/$package/usr/share"
    install -d -m 755 "$root/bash-completion/completions" "$root/zsh/vendor-completions" "$root/fish/vendor_completions.d"
    "$dist/$program" --generate-completion-script bash >"$work/$program.bash"
    # bash-completion sources the file: no #! line.
    sed '1{/^#!/d}' "$work/$program.bash" >"$root/bash-completion/completions/$program"
    "$dist/$program" --generate-completion-script zsh >"$root/zsh/vendor-completions/_$program"
    "$dist/$program" --generate-completion-script fish >"$root/fish/vendor_completions.d/$program.fish"
    for file in "$root/bash-completion/completions/$program" "$root/zsh/vendor-completions/_$program" "$root/fish/vendor_completions.d/$program.fish"; do
        nonempty "$file"
    done
    chmod 644 "$root/bash-completion/completions/$program" "$root/zsh/vendor-completions/_$program" "$root/fish/vendor_completions.d/$program.fish"
}

control() {
    package=$1 depends=$2 description=$3
    install -d -m 755 "$work/$package/DEBIAN"
    size=$(du -sk --exclude=DEBIAN "$work/$package" | cut -f1)
    {
        echo "Package: $package"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: build-service developers <build-service@users.noreply.github.com>"
        echo "Installed-Size: $size"
        echo "Depends: $depends"
        [ "$package" = build-service ] && echo "Recommends: git, build-cli"
        echo "Section: devel"
        echo "Priority: optional"
        echo "Homepage: https://github.com/kcosr/build-service"
        printf '%s\n' "$description"
    } >"$work/$package/DEBIAN/control"
}

# build-service
pkg="$work/build-service"
install -d -m 755 "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/lib/sysusers.d" "$pkg/usr/lib/tmpfiles.d" \
    "$pkg/etc/build-service" "$pkg/usr/share/doc/build-service/docs" "$pkg/DEBIAN"
install -m 755 "$dist/build-service" "$pkg/usr/bin/"
install -m 644 systemd/build-service.service "$pkg/lib/systemd/system/"
install -m 644 packaging/sysusers.conf "$pkg/usr/lib/sysusers.d/build-service.conf"
install -m 644 packaging/tmpfiles.conf "$pkg/usr/lib/tmpfiles.d/build-service.conf"
# 0640: tokens go in here.
install -m 640 config/config.toml "$pkg/etc/build-service/config.toml"
install -m 644 README.md "$pkg/usr/share/doc/build-service/"
install -m 644 docs/*.md "$pkg/usr/share/doc/build-service/docs/"
documents build-service
python3 scripts/man-page.py "$dist/build-service" 8 docs/man/build-service.8.md serve check-config >"$work/build-service.8.md"
nonempty "$work/build-service.8.md"
man_page "$work/build-service.8.md" 8 build-service build-service
python3 scripts/man-page.py --document docs/man/build-service.toml.5.md docs/configuration.md >"$work/build-service.toml.5.md"
man_page "$work/build-service.toml.5.md" 5 build-service.toml build-service
completions build-service build-service
install -m 755 packaging/build-service.postinst "$pkg/DEBIAN/postinst"
install -m 755 packaging/build-service.prerm "$pkg/DEBIAN/prerm"
install -m 755 packaging/build-service.postrm "$pkg/DEBIAN/postrm"
echo /etc/build-service/config.toml >"$pkg/DEBIAN/conffiles"
# An assignment, so that set -e stops on a failure inside shlibs.
depends=$(shlibs "$dist/build-service")
control build-service "$depends, systemd, make" \
    "Description: runs allow-listed build commands for configured projects
 A host-side daemon for builds that need libraries only one host has:
 containers (over a Unix socket) and remote agents (over HTTPS with bearer
 tokens) run the commands a project allows, in the project's tree, and get
 the output back live as NDJSON, with the exit code and the artifacts."

# build-cli
pkg="$work/build-cli"
install -d -m 755 "$pkg/usr/bin" "$pkg/usr/libexec/build-cli"
install -m 755 "$dist/build-cli" "$pkg/usr/bin/"
install -m 755 scripts/make-wrapper.sh "$pkg/usr/libexec/build-cli/make"
documents build-cli
python3 scripts/man-page.py "$dist/build-cli" 1 docs/man/build-cli.1.md >"$work/build-cli.1.md"
nonempty "$work/build-cli.1.md"
man_page "$work/build-cli.1.md" 1 build-cli build-cli
completions build-cli build-cli
depends=$(shlibs "$dist/build-cli")
control build-cli "$depends" \
    "Description: client of build-service: runs a build on the build host
 Sends a build request to build-service over its Unix socket or HTTPS,
 relays the build's stdout and stderr byte for byte and exits with its exit
 code. A make wrapper in /usr/libexec/build-cli turns make in a container
 into a build on the host."

for package in build-service build-cli; do
    # For debsums: every file's checksum.
    (cd "$work/$package" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) \
        >"$work/$package/DEBIAN/md5sums"
    nonempty "$work/$package/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$work/$package" "$out/${package}_${version}_$arch.deb" >/dev/null
done
# For images without dpkg: the binary and the wrapper, unpacked into /usr/local.
tarball="$out/build-cli-$version-linux-$arch.tar.gz"
install -d -m 755 "$work/tar/bin" "$work/tar/libexec" "$work/tar/libexec/build-cli"
install -m 755 "$dist/build-cli" "$work/tar/bin/"
install -m 755 scripts/make-wrapper.sh "$work/tar/libexec/build-cli/make"
tar -C "$work/tar" --owner=0 --group=0 --numeric-owner --mode=go-w,a+rX -czf "$tarball" bin libexec
ls -l "$out"
if command -v lintian >/dev/null; then
    lintian --suppress-tags-from-file packaging/lintian-expected "$out"/*_"$version"_"$arch".deb
fi
