#!/usr/bin/env bash
# tools/ensure-deps (what `make check` and `make deb` install) after a
# dpkg run that was cut short: a package unpacked and never configured
# makes apt-get refuse every install until `dpkg --configure -a` has run,
# so a CI machine whose last install was killed stayed red.  ensure-deps
# finishes what dpkg left first, and installs only what is still missing
# after it.  The package here is this test's own, built on the spot (no
# network), and lives in a dpkg database of the test's own (DPKG_ADMINDIR,
# under $WORK): the machine's database is never written (dpkg logs to its
# /var/log/dpkg.log still), and nothing of the test's is left if it is
# killed.  Its maintainer script runs from $WORK (a noexec /tmp would
# fail it).  A configure that fails is said with dpkg's
# output, and ensure-deps fails.
. "$(dirname "$0")/lib.sh"
need
echo "== tools/ensure-deps: an interrupted dpkg is finished first"
PKG=kakuri-test-interrupted
export DPKG_ADMINDIR=$WORK/dpkg
mkdir -p "$DPKG_ADMINDIR"/{info,updates,triggers} || die "a dpkg database of the test's own"
: >"$DPKG_ADMINDIR/status"
: >"$DPKG_ADMINDIR/available"
# never on the machine's own: stopped here if dpkg does not read it
[ -z "$(dpkg-query -W 2>/dev/null)" ] || die "the test's dpkg database is the one dpkg reads (an empty one)"
pass "the test's dpkg database is the one dpkg reads (an empty one)"

purge_pkg() { dpkg --purge "$PKG" >/dev/null 2>&1; }

# a package whose configure step leaves a mark, and fails while
# $WORK/fail exists
mkdir -p "$WORK/pkg/DEBIAN"
cat >"$WORK/pkg/DEBIAN/control" <<EOT
Package: $PKG
Version: 1.0
Architecture: all
Maintainer: kakuri tests <root@localhost>
Description: kakuri's test of an interrupted dpkg
 Built and purged by tests/integration/t-ensure-deps.sh.
EOT
cat >"$WORK/pkg/DEBIAN/postinst" <<EOT
#!/bin/sh
[ -e "$WORK/fail" ] && { echo "postinst: told to fail"; exit 1; }
touch "$WORK/configured"
exit 0
EOT
chmod 0755 "$WORK/pkg/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$WORK/pkg" "$WORK/$PKG.deb" >/dev/null || die "the test package builds"

status() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null; }
dpkg --unpack "$WORK/$PKG.deb" >/dev/null 2>&1 || die "the test package unpacks"
check "unpacked, not configured: what a killed install leaves" test "$(status)" = "install ok unpacked"
check "dpkg --audit says so" bash -c "dpkg --audit 2>/dev/null | grep -q '$PKG'"
"$TOP/tools/ensure-deps" "$PKG" >"$WORK/ensure.out" 2>&1; rc=$?
sed 's/^/  | /' "$WORK/ensure.out"
check "ensure-deps exits 0 (fails on the old code: apt-get cannot fetch it)" test "$rc" -eq 0
check "... saying a package was left unconfigured, naming it" \
	grep -q "^ensure-deps: packages left unconfigured (a dpkg run cut short): dpkg --configure -a ($PKG)" "$WORK/ensure.out"
check "... and the package is configured (its postinst ran)" \
	bash -c "[ '$(status)' = 'install ok installed' ] && [ -e '$WORK/configured' ]"
check "... installing nothing more" bash -c "! grep -q 'installing' '$WORK/ensure.out'"
check "dpkg --audit is clean" test -z "$(dpkg --audit 2>/dev/null)"
check "run again: nothing to do, nothing said" bash -c "out=\$('$TOP/tools/ensure-deps' '$PKG' 2>&1) && [ -z \"\$out\" ]"

# a configure that fails: said, with dpkg's output, and a failure
purge_pkg
rm -f "$WORK/configured"
touch "$WORK/fail"
dpkg --unpack "$WORK/$PKG.deb" >/dev/null 2>&1 || die "the test package unpacks again"
# (ensure-deb-deps names its own packages; ensure-deps, under its name, ours)
ENSURE_DEPS_NAME=ensure-deb-deps "$TOP/tools/ensure-deps" "$PKG" >"$WORK/fail.out" 2>&1; rc=$?
sed 's/^/  | /' "$WORK/fail.out"
check "a configure that fails: ensure-deps fails" test "$rc" -ne 0
check "... saying so in one line, under the caller's name" \
	grep -q '^ensure-deb-deps: dpkg --configure -a failed; its output:' "$WORK/fail.out"
check "... with dpkg's output (the postinst's words)" grep -q 'postinst: told to fail' "$WORK/fail.out"
rm -f "$WORK/fail"
purge_pkg
check "the test package is purged" bash -c "case \"\$(dpkg-query -W -f='\${Status}' '$PKG' 2>/dev/null)\" in ''|*not-installed) ;; *) false ;; esac"
summary
[ "$FAILED" -eq 0 ]
