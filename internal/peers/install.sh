#!/usr/bin/env bash
# Installs the real peers GeoHub's tests run against. Safe to run again:
# what is installed already is left alone.
#   internal/peers/install.sh            all peers
#   internal/peers/install.sh slixmpp    just those named
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# apt_install PACKAGE... installs the Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
	export DEBIAN_FRONTEND=noninteractive
	# Packages must not start their services: tests start their own. The
	# policy holds during the install only; what was there before comes back.
	local saved=/usr/sbin/policy-rc.d.geohub-saved
	$sudo sh -c "[ -e /usr/sbin/policy-rc.d ] && mv /usr/sbin/policy-rc.d $saved; printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d"
	local ok=0
	if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		$sudo apt-get update -q
		$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || ok=$?
	fi
	$sudo sh -c "rm -f /usr/sbin/policy-rc.d; [ -e $saved ] && mv $saved /usr/sbin/policy-rc.d; true"
	# A server installed here for the tests does not start at boot either.
	local p
	for p in "${missing[@]}"; do
		case "$p" in
		prosody | ejabberd | mosquitto) disable_service "$p" ;;
		nginx-light) disable_service nginx ;;
		esac
	done
	return $ok
}

disable_service() {
	if command -v systemctl >/dev/null; then
		$sudo systemctl disable --quiet "$1" 2>/dev/null || true
	fi
	if command -v update-rc.d >/dev/null; then
		$sudo update-rc.d "$1" disable >/dev/null 2>&1 || true
	fi
}

npm_ci() {
	(cd "$root/$1" && { [ -d node_modules ] && npm ls >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error; })
}

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(slixmpp xmppjs boshjs prosody ejabberd mosquitto nginx chromium converse gosendxmpp mcabber systemd)
for peer in "${peers[@]}"; do
	case "$peer" in
	slixmpp) apt_install python3-slixmpp ;;
	prosody) apt_install prosody ;;
	ejabberd) apt_install ejabberd ;;
	mosquitto) apt_install mosquitto mosquitto-clients ;;
	nginx) apt_install nginx-light ;;
	gosendxmpp) apt_install go-sendxmpp ;;
	# a terminal client, driven in tmux as a person would
	mcabber) apt_install mcabber tmux ;;
	# systemd-analyze checks contrib/systemd/geohub.service
	systemd) apt_install systemd ;;
	xmppjs) npm_ci hub/testdata/xmppjs ;;
	# StanzaJS and strophe.js, the BOSH clients (XEP-0124, XEP-0206).
	boshjs) npm_ci hub/testdata/bosh ;;
	# Debian's browser driven by playwright-core; playwright downloads no browser.
	chromium) apt_install chromium && npm_ci dashboard/web/e2e ;;
	# Converse.js in the same browser, with its own playwright-core.
	converse) apt_install chromium && npm_ci hub/testdata/converse ;;
	*) echo "install.sh: unknown peer $peer" >&2; exit 2 ;;
	esac
done
