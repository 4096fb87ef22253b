#!/bin/sh
# Installs the Debian 12 packages the build, the platform and the tests need.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
PKGS="build-essential cmake pkg-config python3 curl ca-certificates
libuv1-dev libpq-dev libssl-dev libconfig-dev libcunit1-dev libhttp-parser-dev
libjansson-dev libsodium-dev libcurl4-openssl-dev
postgresql-15 wrk openssl tzdata"
# test_outbound.py: a local SMTP peer with STARTTLS for curl_run (run by /usr/bin/python3)
PKGS="$PKGS python3-aiosmtpd"
# plugins/auth: NFKC (libunistring), cracklib's dictionary check (libpwquality,
# cracklib-runtime) and the common-passwords list (john-data)
PKGS="$PKGS libunistring-dev libpwquality-dev cracklib-runtime john-data"
# plugins/auth: TOTP (RFC 6238) for the second factor
PKGS="$PKGS liboath-dev"
# plugins/waf: OWASP CRS through libmodsecurity (docs/waf.md)
PKGS="$PKGS libmodsecurity-dev modsecurity-crs"

# plugins/sso_line: ID token (JWS) verification
PKGS="$PKGS libcjose-dev"
# tests/peers/line_provider: the LINE Login test provider (npm oidc-provider)
# runs on Node.js; a machine without one gets Debian's
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages; run as root:" >&2
  echo "  apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
