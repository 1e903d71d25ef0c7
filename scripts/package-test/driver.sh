#!/bin/sh
# Inside a booted Debian container (scripts/package-test/run.sh): installs the packages from
# /debs, and checks as an operator and a container user would that the unit starts as shipped,
# builds run over the socket and over HTTPS on port 443, reload and stop work, and the journal
# filters by priority. One line per check in /out/results ("ok NAME" or "FAIL NAME: why").
set -u
results=/out/results
: >"$results"
failures=0
pass() { echo "ok $1" >>"$results"; }
fail() {
    echo "FAIL $1: $2" >>"$results"
    failures=$((failures + 1))
}
# check NAME COMMAND...: the command must succeed.
check() {
    name=$1
    shift
    if output=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$output" | tail -c 600)"; fi
}
# expect NAME PATTERN TEXT: TEXT must contain PATTERN (grep -E).
expect() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1" "no /$2/ in: $(printf '%s' "$3" | tail -c 600)"; fi
}
wait_active() {
    for _ in $(seq 1 100); do
        [ "$(systemctl is-active build-service)" = active ] && return 0
        sleep 0.1
    done
    return 1
}

# A host has these; the bare root does not.
[ -e /etc/hosts ] || printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >/etc/hosts

# Install: the postinst creates users and directories and starts the unit with the sample
# config as shipped (its project tree does not exist yet: a warning, not a failure).
check install dpkg -i /debs/build-cli_*.deb /debs/build-service_*.deb
check started-as-shipped wait_active
expect socket-in-runtime-directory '^srw-rw---- .* root build .*/run/build-service/build.sock' \
    "$(ls -l /run/build-service/build.sock 2>&1)"
check users getent passwd build-runner build-service
check group getent group build
expect runner-home 'build-runner build-runner' "$(stat -c '%U %G' /var/lib/build-service/runner 2>&1)"
expect config-mode '^640 root root$' "$(stat -c '%a %U %G' /etc/build-service/config.toml 2>&1)"
expect logs-directory-mode '^750 root root$' "$(stat -c '%a %U %G' /var/log/build-service 2>&1)"
check check-config-as-installed build-service check-config
# systemd's own checks of the unit as installed (man pages included).
verify=$(systemd-analyze verify /lib/systemd/system/build-service.service 2>&1)
if [ -z "$verify" ]; then pass unit-verifies; else fail unit-verifies "$verify"; fi
exposure=$(systemd-analyze security build-service 2>&1 | sed -n 's/.*Overall exposure level for build-service.service: \([0-9.]*\).*/\1/p')
echo "exposure $exposure" >>"$results"
if [ -n "$exposure" ] && awk "BEGIN { exit !($exposure <= 3.0) }"; then pass exposure-at-most-3; else fail exposure-at-most-3 "$exposure"; fi
check man-pages man -w build-service build-cli build-service.toml
check completions test -s /usr/share/bash-completion/completions/build-cli
# Installing again (the upgrade path: postinst configure with the old version) restarts it.
pid=$(systemctl show -p MainPID --value build-service)
check reinstall dpkg -i /debs/build-service_*.deb
check active-after-reinstall wait_active
if [ "$(systemctl show -p MainPID --value build-service)" != "$pid" ]; then pass restarted-by-reinstall; else fail restarted-by-reinstall "same pid $pid"; fi

# The project of the sample config; the build only reads its tree (ProtectSystem=strict).
mkdir -p /srv/src/sip-stack
cat >/srv/src/sip-stack/Makefile <<'MAKEFILE'
all:
	@echo "built by $$(id -un) with umask $$(umask) in $$(pwd)"
MAKEFILE
useradd --create-home --groups build alice
useradd --create-home bob
cd /srv/src/sip-stack
out=$(runuser -u alice -- build-cli --project sip-stack make all 2>&1)
expect socket-build-as-build-member 'built by build-runner with umask 0022 in /srv/src/sip-stack' "$out"
out=$(runuser -u bob -- build-cli --project sip-stack make all 2>&1)
status=$?
expect socket-refuses-non-member 'Permission denied' "$out status $status"
out=$(runuser -u alice -- env BUILD_SERVICE_PROJECT=sip-stack PATH=/usr/libexec/build-cli:/usr/bin:/bin make all 2>&1)
expect make-wrapper 'built by build-runner' "$out"
out=$(runuser -u alice -- build-cli --project sip-stack make 'all$(shell id)' 2>&1)
expect make-language-refused 'refused|not allowed|invalid' "$out"

# HTTPS on port 443 with a token, as an operator turns it on: a certificate, then the
# [service.http] and [service.http.tls] tables of the sample enabled.
mkdir -p /etc/build-service/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout /etc/build-service/tls/server.key \
    -out /etc/build-service/tls/server.pem 2>/dev/null
chmod 600 /etc/build-service/tls/server.key
token=$(openssl rand -hex 32)
sed -i -e '/^\[service.http\]$/,/^\[/ s/^enabled = false/enabled = true/' \
    -e 's|^listen_addr = .*|listen_addr = "0.0.0.0:443"|' \
    -e "/^\\[service.http.auth\\]\$/,/^\\[/ s|^tokens = \\[|tokens = [\"$token\",|" \
    -e '/^\[service.http.tls\]$/,/^\[/ s/^enabled = false/enabled = true/' /etc/build-service/config.toml
check check-config-https build-service check-config
check restart-for-https systemctl restart build-service
check active-after-restart wait_active
out=$(runuser -u bob -- build-cli --endpoint https://localhost --cacert /etc/build-service/tls/server.pem \
    --token "$token" --project sip-stack make all 2>&1)
expect https-build-on-443 'built by build-runner' "$out"
out=$(runuser -u bob -- build-cli --endpoint https://localhost --cacert /etc/build-service/tls/server.pem \
    --token wrong-token --project sip-stack make all 2>&1)
expect https-wrong-token-refused 'unauthorized|401' "$out"

# Reload: a config change (a second project) is taken without a restart.
pid=$(systemctl show -p MainPID --value build-service)
cat >>/etc/build-service/config.toml <<'TOML'

[[projects]]
id = "second"
type = "path"
path_root = "/srv/src/sip-stack"
commands = ["make"]
TOML
check reload systemctl reload build-service
check active-after-reload wait_active
expect same-process-after-reload "^$pid\$" "$(systemctl show -p MainPID --value build-service)"
out=$(runuser -u alice -- build-cli --project second make all 2>&1)
expect reloaded-project-builds 'built by build-runner' "$out"

# A drop-in that turns on RestrictSUIDSGID (whose filter refuses openat2) stops the start at
# check-config, naming the option, instead of a daemon that refuses every build.
mkdir -p /etc/systemd/system/build-service.service.d
printf '[Service]\nRestrictSUIDSGID=yes\n' >/etc/systemd/system/build-service.service.d/suid.conf
systemctl daemon-reload
if systemctl restart build-service 2>/dev/null; then fail restrict-suid-sgid-refused "the daemon started"; else pass restrict-suid-sgid-refused; fi
expect restrict-suid-sgid-named 'RestrictSUIDSGID' "$(journalctl -u build-service -o cat --no-pager | tail -20)"
rm /etc/systemd/system/build-service.service.d/suid.conf
systemctl daemon-reload
systemctl reset-failed build-service
check restart-without-drop-in systemctl restart build-service
check active-again wait_active

# Stop: the socket goes, the unit is inactive, nothing of the build user is left running.
check stop systemctl stop build-service
expect inactive-after-stop '^inactive$' "$(systemctl is-active build-service)"
check socket-removed test ! -e /run/build-service/build.sock
check no-build-processes-left sh -c '! pgrep -u build-runner'

# The journal: priorities filter (the missing project tree at first start was a warning; the
# listening lines are info), and lines carry no timestamp of their own.
warnings=$(journalctl -u build-service -p warning -o cat --no-pager)
expect journal-warning-shown 'path_root' "$warnings"
if printf '%s\n' "$warnings" | grep -q 'listening'; then fail journal-info-filtered "info lines under -p warning"; else pass journal-info-filtered; fi
expect journal-info-present 'listening' "$(journalctl -u build-service -p info -o cat --no-pager)"
if journalctl -u build-service -o cat --no-pager | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'; then
    fail journal-no-own-timestamp "lines start with a timestamp"
else
    pass journal-no-own-timestamp
fi

# Purge: the config and logs go, the operator's certificate stays; artifacts, workspaces and
# users stay unless asked.
mkdir -p /var/lib/build-service/artifacts/keep
check purge dpkg --purge build-service
check config-removed test ! -e /etc/build-service/config.toml
check operators-files-kept test -e /etc/build-service/tls/server.pem
check logs-removed test ! -e /var/log/build-service
check state-kept test -d /var/lib/build-service/artifacts/keep
check users-kept getent passwd build-runner
check build-cli-still-runs build-cli --version
# Installed again after a purge (the unit was masked on remove), it starts; purged with
# BUILD_SERVICE_PURGE_STATE=yes, the state goes too.
check install-after-purge dpkg -i /debs/build-service_*.deb
check active-after-purge-and-install wait_active
check purge-with-state env BUILD_SERVICE_PURGE_STATE=yes dpkg --purge build-service
check state-removed test ! -e /var/lib/build-service

journalctl -b --no-pager >/out/journal.txt 2>&1
echo "failures $failures" >>"$results"
[ "$failures" -eq 0 ]
