#!/usr/bin/env bash
# External media cut while isolated (issue 12, item 3): with
# usb.storage = "deauthorize", a staff disconnect deauthorises every USB
# storage interface and makes the root hubs refuse new interfaces, keeps
# the keyboard of a composite device, the hubs and the mouse; records
# vendor, product and serial in the audit and a "usb" report; re-applies
# when a storage interface is authorised again (a status query, at most
# one look a second, or the verify timer alone); lets in the keyboard of
# a device plugged in while isolated and records its storage; survives a
# restart; a two-signature release puts back exactly what was there, from
# memory when usb.json cannot be written (chattr +i); and when the cut
# cannot be completed (a sysfs write refused), the signed isolate's
# receipt, kakurictl send, the audit and status say degraded, while the
# network isolation holds.  This machine's kernel has no USB: kakurid runs against a sysfs tree built
# here (KAKURI_SYSFS_ROOT, the test hook of kakurid.8), and a built tree
# is never remounted from (its device numbers may be a real disk's).
. "$(dirname "$0")/lib.sh"
need
echo "== usb: storage deauthorised while isolated, restored at release"
topology || die topology
pki_setup || die "PKI setup"

SYS="$WORK/sys"
DEV="$SYS/devices/pci0000:00/0000:00:14.0"
# node PARENT NAME: a directory under devices, linked from bus/usb/devices
node() {
	mkdir -p "$DEV/$1/$2" && ln -s "$DEV/$1/$2" "$SYS/bus/usb/devices/$2"
}
iface() { node "$1" "$2" && echo "$3" >"$DEV/$1/$2/bInterfaceClass" && echo 1 >"$DEV/$1/$2/authorized"; }
device() {
	node "$1" "$2" && echo "$3" >"$DEV/$1/$2/idVendor" && echo "$4" >"$DEV/$1/$2/idProduct" &&
		echo 1 >"$DEV/$1/$2/authorized" && { [ -z "$5" ] || echo "$5" >"$DEV/$1/$2/serial"; }
}
build_tree() {
	mkdir -p "$SYS/bus/usb/devices" || return 1
	: >"$SYS/bus/usb/drivers_probe"		# a file: what is written stays
	mkdir -p "$SYS/bus/usb/drivers/usbhid" "$SYS/bus/usb/drivers/hub" || return 1
	: >"$SYS/bus/usb/drivers/usbhid/bind"; : >"$SYS/bus/usb/drivers/hub/bind"
	node "" usb1 && echo 1 >"$DEV/usb1/interface_authorized_default"
	iface usb1 1-0:1.0 09
	device usb1 1-1 0781 5567 4C530001230101117412
	echo "SanDisk" >"$DEV/usb1/1-1/manufacturer"
	iface usb1/1-1 1-1:1.0 08
	mkdir -p "$DEV/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdx/sdx1"
	echo 8:240 >"$DEV/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdx/dev"
	echo 8:241 >"$DEV/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdx/sdx1/dev"
	device usb1 1-2 046d c52b ""
	iface usb1/1-2 1-2:1.0 03
	iface usb1/1-2 1-2:1.1 08
	device usb1 1-3 05e3 0608 ""
	iface usb1/1-3 1-3:1.0 09
	device usb1/1-3 1-3.1 046d c077 ""
	iface usb1/1-3/1-3.1 1-3.1:1.0 03
	node "" usb2 && echo 0 >"$DEV/usb2/interface_authorized_default"
	# the stick's partition, as mounted
	echo "40 22 8:241 / /media/staff/STICK rw,nosuid,nodev shared:2 - vfat /dev/sdx1 rw" >"$WORK/mountinfo"
}
build_tree || die "the sysfs tree is built"
export KAKURI_SYSFS_ROOT="$SYS" KAKURI_MOUNTINFO="$WORK/mountinfo"

STICK="$DEV/usb1/1-1/1-1:1.0/authorized"
COMBO_KBD="$DEV/usb1/1-2/1-2:1.0/authorized"
COMBO_DISK="$DEV/usb1/1-2/1-2:1.1/authorized"
HUB="$DEV/usb1/1-3/1-3:1.0/authorized"
MOUSE="$DEV/usb1/1-3/1-3.1/1-3.1:1.0/authorized"
ROOTHUB_IF="$DEV/usb1/1-0:1.0/authorized"
DEF1="$DEV/usb1/interface_authorized_default"
DEF2="$DEV/usb2/interface_authorized_default"
is() { [ "$(cat "$1")" = "$2" ]; }
untouched() { is "$COMBO_KBD" 1 && is "$HUB" 1 && is "$MOUSE" 1 && is "$ROOTHUB_IF" 1 && is "$DEF2" 0 &&
	is "$DEV/usb1/1-1/authorized" 1 && is "$DEV/usb1/1-2/authorized" 1; }
usb_report() { outbox_json | jq -c 'select(.type == "usb")'; }

write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
usb: { storage = \"deauthorize\"; };"
AGENT_ID=$(agent_init)
check "the policy with a usb section is accepted" "$KAKURID" -n -f "$POLICY"
start_kakurid || die "kakurid starts"
check_within "the CSIRT channel is listening" 20 channel_up
# uevent_socket: kakurid holds a NETLINK_KOBJECT_UEVENT (15) socket bound to group 1
uevent_socket() {
	local ino
	for ino in $(ip netns exec "$EP" awk '$2 == 15 && $4 == "00000001" { print $NF }' /proc/net/netlink); do
		ls -l "/proc/$KPID/fd" 2>/dev/null | grep -q "socket:\[$ino\]" && return 0
	done
	return 1
}
check "the USB watch listens to the kernel's uevents (group 1)" uevent_socket
check "open: nothing is touched" bash -c "[ \"\$(cat '$STICK')\" = 1 ] && [ \"\$(cat '$DEF1')\" = 1 ]"
check "open: no usb state saved" test ! -e "$STATE/usb.json"

check "a staff disconnect isolates" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "isolated" test "$(status_field mode)" = isolated
check "the stick's storage interface: authorized 0" is "$STICK" 0
check "the composite device's storage interface: authorized 0" is "$COMBO_DISK" 0
check "root hub usb1 refuses new interfaces (interface_authorized_default 0)" is "$DEF1" 0
check "the composite's keyboard, the hubs, the mouse, the devices and usb2 are untouched" untouched
check "what it changed is saved under state_dir (usb.json)" test -s "$STATE/usb.json"
check "the audit has the usb record with vendor, product and serial" audit_has \
	'.action == "usb" and .result == "deauthorize" and
	 ([.interfaces[] | select(.interface == "1-1:1.0" and .vendor == "0781" and .product == "5567" and
	   .serial == "4C530001230101117412" and .manufacturer == "SanDisk")] | length == 1)'
check "the audit names the mount it found (not remounted: a built tree)" audit_has \
	'.action == "usb" and ([.mounts[] | select(.mount == "/media/staff/STICK" and .device == "8:241" and
	 (.result | test("test tree")))] | length == 1)'
check "the outbox has one usb report" test "$(usb_report | wc -l)" = 1
# usb_report_ok EPISODE: the report names both storage interfaces, not the keyboard
usb_report_ok() {
	usb_report | jq -e --arg ep "$1" '.body.episode == $ep and (.body.interfaces | length) == 2 and
	([.body.interfaces[] | select(.vendor == "0781" and .product == "5567" and .serial == "4C530001230101117412")] | length) == 1 and
	([.body.interfaces[] | select(.interface == "1-2:1.1" and .vendor == "046d" and .product == "c52b")] | length) == 1 and
	([.body.interfaces[] | select(.interface == "1-2:1.0")] | length) == 0'
}
check "... with vendor, product and serial of both storage interfaces, and the episode" usb_report_ok "$(status_field episode)"
check "status: verified" test "$(status_field verified)" = true

# --- someone authorises the stick again: verify puts it back ---
# status_recut FILE: a status query, then FILE reads 0.  status reuses a
# USB look younger than a second (KD_USB_CHECK_REUSE_USEC): polled, it
# looks again within about a second.
status_recut() { ctl status >/dev/null 2>&1; is "$1" 0; }
echo 1 >"$STICK"
check_within "a storage interface authorised again is deauthorised again (status)" 5 status_recut "$STICK"
check "... and the composite's keyboard is still untouched" untouched
check "... and the CSIRT hears of it: a second usb report, for the stick alone" \
	bash -c "[ \"\$(jq -s 'length' <<<\"\$1\")\" = 2 ] && jq -s -e '.[1].body.interfaces | length == 1 and .[0].interface == \"1-1:1.0\"' <<<\"\$1\"" _ "$(usb_report)"

# --- the verify timer alone, no query: an interface authorised by hand goes back ---
# usb_audits JQ-FILTER: how many usb audit entries match
usb_audits() { ctl log --json | jq "[.entries[] | select(.action == \"usb\" and ($1))] | length"; }
CUTS_BEFORE=$(usb_audits '.result == "deauthorize" and any(.interfaces[]; .interface == "1-2:1.1")')
echo 1 >"$COMBO_DISK"
check_within "the verify timer deauthorises a storage interface authorised by hand (no status query)" 15 \
	is "$COMBO_DISK" 0
check_within "... and a new usb audit entry names it" 5 \
	test "$(usb_audits '.result == "deauthorize" and any(.interfaces[]; .interface == "1-2:1.1")')" = $((CUTS_BEFORE + 1))

# --- a keyboard + card reader plugged in while isolated ---
# plugged NAME CLASS: an interface (of device 1-5 for 1-5:1.0) as the
# kernel makes it while usb1's interface_authorized_default is 0:
# authorized 0, its link last
plugged() {
	local d="$DEV/usb1/${1%%:*}"
	mkdir -p "$d/$1" && echo "$2" >"$d/$1/bInterfaceClass" && echo 0 >"$d/$1/authorized"
}
NEW_KBD="$DEV/usb1/1-5/1-5:1.0/authorized"
NEW_DISK="$DEV/usb1/1-5/1-5:1.1/authorized"
mkdir -p "$DEV/usb1/1-5" && echo 04f2 >"$DEV/usb1/1-5/idVendor" && echo 0402 >"$DEV/usb1/1-5/idProduct" &&
	echo KBD5 >"$DEV/usb1/1-5/serial" && echo 1 >"$DEV/usb1/1-5/authorized" &&
	plugged 1-5:1.0 03 && plugged 1-5:1.1 08 || die "the new device is built"
ln -s "$DEV/usb1/1-5" "$SYS/bus/usb/devices/1-5"
for n in 1-5:1.0 1-5:1.1; do ln -s "$DEV/usb1/1-5/$n" "$SYS/bus/usb/devices/$n"; done
[ -d "$SYS/bus/usb/devices/1-5:1.1/" ] || die "the new device's links"
check_within "plugged in while isolated: its keyboard interface is let in (authorized 1)" 15 is "$NEW_KBD" 1
check "... its storage interface stays deauthorised" is "$NEW_DISK" 0
new_disk_reported() {
	usb_report | jq -e -s '[.[].body.interfaces[] | select(.interface == "1-5:1.1" and .vendor == "04f2" and
	  .serial == "KBD5" and (.result | test("arrived while isolated")))] | length == 1'
}
check_within "... the storage interface is in a usb report (vendor, serial), once" 10 new_disk_reported
check "... and in the audit" audit_has \
	'.action == "usb" and .result == "deauthorize" and any(.interfaces[]; .interface == "1-5:1.1")'
# probed NAME: NAME was written to bus/usb/drivers_probe (any driver that matches)
probed() { grep -qx "$1" "$SYS/bus/usb/drivers_probe"; }
# bound DRIVER NAME: NAME was written to bus/usb/drivers/DRIVER/bind (that one only)
bound() { grep -qx "$2" "$SYS/bus/usb/drivers/$1/bind"; }
check "... the keyboard is bound to usbhid (its name written to bus/usb/drivers/usbhid/bind)" bound usbhid 1-5:1.0
check "... and not probed for any driver (usb-storage matches some ids whatever the class)" bash -c "! grep -q '^1-5:' '$SYS/bus/usb/drivers_probe'"
check "... the keyboard's admission is audited" audit_has \
	'.action == "usb" and .result == "admit" and any(.interfaces[]; .interface == "1-5:1.0" and .vendor == "04f2")'
check "... the rest untouched" untouched
check "... status: verified" test "$(status_field verified)" = true

# --- a "keyboard" that usb-storage holds (a driver that matches it by vendor and product id) ---
ln -s "$SYS/bus/usb/drivers/usb-storage" "$DEV/usb1/1-5/1-5:1.0/driver" || die "the driver link"
check_within "a keyboard interface let in that usb-storage then holds is deauthorised (status)" 5 status_recut "$NEW_KBD"
foreign_reported() {
	usb_report | jq -e -s '[.[].body.interfaces[] | select(.interface == "1-5:1.0" and .class == "03" and
	  .driver == "usb-storage")] | length == 1'
}
check_within "... a usb report names the interface, its class and the driver" 10 foreign_reported
check "... and the audit's deauthorize names it" audit_has \
	'.action == "usb" and .result == "deauthorize" and any(.interfaces[]; .interface == "1-5:1.0" and .driver == "usb-storage")'
rm "$DEV/usb1/1-5/1-5:1.0/driver"	# as the kernel does when it deauthorises it
verified() { [ "$(status_field verified)" = true ]; }
check_within "... unbound: status verified" 10 verified
check "... and it is not let in again while its device is there (fails on the old code: let in at each look)" \
	bash -c "[ \"\$(cat '$NEW_KBD')\" = 0 ] && [ \"\$(grep -cx 1-5:1.0 '$SYS/bus/usb/drivers/usbhid/bind')\" = 1 ]"
check "... nor reported again" foreign_reported

# --- an Android phone plugged in while isolated: MTP/PTP is class 06 or vendor ff ---
PHONE_PTP="$DEV/usb1/1-6/1-6:1.0/authorized"
PHONE_VND="$DEV/usb1/1-6/1-6:1.1/authorized"
mkdir -p "$DEV/usb1/1-6" && echo 18d1 >"$DEV/usb1/1-6/idVendor" && echo 4ee1 >"$DEV/usb1/1-6/idProduct" &&
	echo PHONE6 >"$DEV/usb1/1-6/serial" && echo 1 >"$DEV/usb1/1-6/authorized" &&
	plugged 1-6:1.0 06 && plugged 1-6:1.1 ff || die "the phone is built"
ln -s "$DEV/usb1/1-6" "$SYS/bus/usb/devices/1-6"
for n in 1-6:1.0 1-6:1.1; do ln -s "$DEV/usb1/1-6/$n" "$SYS/bus/usb/devices/$n"; done
[ -d "$SYS/bus/usb/devices/1-6:1.1/" ] || die "the phone's links"
phone_reported() {
	usb_report | jq -e -s '[.[].body.interfaces[] | select(.serial == "PHONE6" and
	  (.result | test("arrived while isolated")) and
	  ((.interface == "1-6:1.0" and .class == "06") or (.interface == "1-6:1.1" and .class == "ff")))] | length == 2'
}
check_within "a phone plugged in while isolated: its PTP (06) and vendor (ff) interfaces are in a usb report with their class" 15 \
	phone_reported
check "... both stay deauthorised (not let in as the keyboard is)" bash -c "[ \"\$(cat '$PHONE_PTP')\" = 0 ] && [ \"\$(cat '$PHONE_VND')\" = 0 ]"
phone_not_admitted() {
	! ctl log --json | jq -e '.entries[] | select(.action == "usb" and .result == "admit") |
	  .interfaces[] | select(.interface | startswith("1-6:"))' >/dev/null
}
check "... and no admission names them" phone_not_admitted
check "... and no driver is probed or bound for them" bash -c "! grep -q '^1-6:' '$SYS/bus/usb/drivers_probe' '$SYS/bus/usb/drivers/usbhid/bind' '$SYS/bus/usb/drivers/hub/bind'"
echo 1 >"$PHONE_VND"
check_within "the phone's vendor interface authorised by hand is deauthorised again (status)" 5 status_recut "$PHONE_VND"
check "... status: verified" test "$(status_field verified)" = true

# --- a restart in isolation keeps what was saved ---
REPORTS=$(usb_report | wc -l)
stop_kakurid -TERM
check "kakurid stopped: the stick stays deauthorised" is "$STICK" 0
start_kakurid || die "kakurid restarts"
check_within "the CSIRT channel is listening again" 20 channel_up
check "after the restart: still isolated" test "$(status_field mode)" = isolated
check "after the restart: the saved state still says usb1 was 1" \
	jq -e '.hubs[] | select(.name == "usb1" and .was == 1)' "$STATE/usb.json"
check "after the restart: no new usb report (nothing new to cut)" test "$(usb_report | wc -l)" = "$REPORTS"

# --- a reboot in isolation: the kernel forgets, kakurid --restore cuts again ---
stop_kakurid -TERM
echo 1 >"$STICK"; echo 1 >"$COMBO_DISK"; echo 1 >"$DEF1"	# what a boot brings back
FRESH="${P}-fresh"
addns "$FRESH" || die "the fresh namespace"
out=$(ip netns exec "$FRESH" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
check "boot: kakurid --restore exits 0 and says isolated" bash -c "[ $rc -eq 0 ] && grep -q 'restore: isolated' <<<'$out'"
check "boot: the storage interfaces and usb1's default are cut again" \
	bash -c "[ \"\$(cat '$STICK')\" = 0 ] && [ \"\$(cat '$COMBO_DISK')\" = 0 ] && [ \"\$(cat '$DEF1')\" = 0 ]"
check "boot: the keyboard, hubs and mouse untouched" untouched
check "boot: usb.json still says usb1 was 1 (not the 0 it wrote)" \
	jq -e '([.hubs[] | select(.name == "usb1" and .was == 1)] | length) == 1 and (.interfaces | length) == 6 and .foreign["1-5:1.0"] != null' "$STATE/usb.json"
echo 1 >"$COMBO_DISK"
ip netns exec "$FRESH" "$TOP/kakurid-restore" -f "$POLICY" >/dev/null 2>&1
check "boot: kakurid-restore itself (what kakuri-restore.service runs) cuts a storage interface again" \
	is "$COMBO_DISK" 0
start_kakurid || die "kakurid starts after the boot restore"
check_within "the CSIRT channel is listening after the boot restore" 20 channel_up

# --- release: one signature is refused, two restore ---
EPISODE=$(status_field episode)
REL=$(sign alice release --episode "$EPISODE")
check "a release with one signature: threshold" test "$(send_result "$REL")" = threshold
check "... and the stick stays deauthorised" is "$STICK" 0
REL2=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL2" 2>/dev/null
check "a release with two signatures: done" test "$(send_result "$REL2")" = done
check "released: open" test "$(status_field mode)" = open
check "released: the stick's storage interface is authorised again" is "$STICK" 1
check "released: the composite's storage interface is authorised again" is "$COMBO_DISK" 1
check "released: usb1's interface_authorized_default is 1 again" is "$DEF1" 1
check "released: usb2 is still 0 (it was 0 before)" is "$DEF2" 0
check "released: the rest is as it was" untouched
check "released: the device plugged in while isolated is as if plugged in before (keyboard and storage 1)" \
	bash -c "[ \"\$(cat '$NEW_KBD')\" = 1 ] && [ \"\$(cat '$NEW_DISK')\" = 1 ]"
check "released: the phone plugged in while isolated is authorised (PTP and vendor 1)" \
	bash -c "[ \"\$(cat '$PHONE_PTP')\" = 1 ] && [ \"\$(cat '$PHONE_VND')\" = 1 ]"
check "released: a driver is probed for the stick, the composite's storage, the new card reader, the phone and the keyboard cut for its driver" \
	bash -c "for n in 1-1:1.0 1-2:1.1 1-5:1.1 1-6:1.0 1-6:1.1 1-5:1.0; do grep -qx \"\$n\" '$SYS/bus/usb/drivers_probe' || exit 1; done"
check "released: usb.json is gone" test ! -e "$STATE/usb.json"
check "the audit has the usb restore" audit_has '.action == "usb" and .result == "restore"'

# --- egress cuts mail and web only; isolation from egress cuts the media ---
stop_kakurid -TERM
write_policy "$(remote_agent_conf) disconnect_mode = \"egress\";" "$(remote_tls_conf)
usb: { storage = \"deauthorize\"; };"
start_kakurid || die "kakurid starts with disconnect_mode = egress"
check_within "the CSIRT channel is listening (egress policy)" 20 channel_up
check "egress: a staff disconnect" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "egress: mode egress" test "$(status_field mode)" = egress
check "egress: the media are left alone" bash -c "[ \"\$(cat '$STICK')\" = 1 ] && [ \"\$(cat '$DEF1')\" = 1 ]"
ISO=$(sign alice isolate --reason "escalated from egress")
check "a signed isolate from egress: done" test "$(send_result "$ISO")" = done
check "isolated from egress: the storage interfaces are cut now" bash -c "[ \"\$(cat '$STICK')\" = 0 ] && [ \"\$(cat '$COMBO_DISK')\" = 0 ] && [ \"\$(cat '$DEF1')\" = 0 ]"
check "... the keyboard still untouched" untouched

# --- usb.storage = "keep" while isolated: what was cut is put back at start ---
stop_kakurid -TERM
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
usb: { storage = \"keep\"; };"
start_kakurid || die "kakurid starts with storage = keep"
check "keep: still isolated after the restart" test "$(status_field mode)" = isolated
check "keep: the storage interfaces and usb1 are as they were before" \
	bash -c "[ \"\$(cat '$STICK')\" = 1 ] && [ \"\$(cat '$COMBO_DISK')\" = 1 ] && [ \"\$(cat '$DEF1')\" = 1 ] && [ \"\$(cat '$DEF2')\" = 0 ]"
check "keep: usb.json is gone" test ! -e "$STATE/usb.json"
check "keep: another disconnect leaves the media alone" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "keep: the stick stays authorised" is "$STICK" 1

# --- usb.json cannot be written (chattr +i, as root malware may): cut all the same ---
EPISODE=$(status_field episode)
REL=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" 2>/dev/null
check "keep: a release with two signatures: done" test "$(send_result "$REL")" = done
stop_kakurid -TERM
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
usb: { storage = \"deauthorize\"; };"
start_kakurid || die "kakurid starts with storage = deauthorize again"
check_within "the CSIRT channel is listening (deauthorize again)" 20 channel_up
printf '{"v":1,"hubs":[],"interfaces":[],"kept":[]}' >"$STATE/usb.json"
chattr +i "$STATE/usb.json" || unable "chattr +i on $STATE" "an immutable usb.json"
trap 'chattr -i "$STATE/usb.json" 2>/dev/null; cleanup' EXIT
check "unwritable usb.json: a staff disconnect isolates" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "... the storage interfaces and usb1's default are cut all the same (fail closed)" \
	bash -c "[ \"\$(cat '$STICK')\" = 0 ] && [ \"\$(cat '$COMBO_DISK')\" = 0 ] && [ \"\$(cat '$DEF1')\" = 0 ]"
check "... the phone is cut too" bash -c "[ \"\$(cat '$PHONE_PTP')\" = 0 ] && [ \"\$(cat '$PHONE_VND')\" = 0 ]"
check "... the keyboard still untouched" untouched
check "... the audit says usb.json was not saved, with usb1's value before and the interfaces cut" audit_has \
	'.action == "usb" and .result == "deauthorize" and any(.errors[]; .what | test("not saved")) and
	 any(.hubs[]; .name == "usb1" and .was == 1) and any(.interfaces[]; .interface == "1-1:1.0")'
check "... status: not verified (what to restore is in memory only)" test "$(status_field verified)" = false
EPISODE=$(status_field episode)
REL=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" 2>/dev/null
check "unwritable usb.json: a release with two signatures: done" test "$(send_result "$REL")" = done
check "... released from memory: the storage interfaces, the phone and usb1's default are back" \
	bash -c "[ \"\$(cat '$STICK')\" = 1 ] && [ \"\$(cat '$COMBO_DISK')\" = 1 ] && [ \"\$(cat '$DEF1')\" = 1 ] &&
	  [ \"\$(cat '$PHONE_PTP')\" = 1 ] && [ \"\$(cat '$PHONE_VND')\" = 1 ]"
check "... usb2 is still 0" is "$DEF2" 0
chattr -i "$STATE/usb.json"

# --- the USB cut cannot be completed (a sysfs write refused): the CSIRT is told ---
# The stick's authorized attribute is immutable: writing 0 fails (EPERM).
# The network's isolation must hold all the same (fail closed), and the
# signed isolate's receipt, kakurictl send, the audit and status must say
# that the USB part is degraded and why, not just "done".
rm -f "$STATE/usb.json"
internet_echo "open: the endpoint reaches the internet host (TCP 8080)"
chattr +i "$STICK" || unable "chattr +i on the sysfs tree" "an authorized attribute that refuses writes"
trap 'chattr -i "$STICK" 2>/dev/null; cleanup' EXIT
ISO=$(sign alice isolate --reason "C2 beacon; the stick cannot be cut")
ip netns exec "$PEER" "$KAKURICTL" send --to "[$EP6]:7443" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --agent-id "$AGENT_ID" "$ISO" >"$WORK/deg.out" 2>"$WORK/deg.err"
rc=$?
cat "$WORK/deg.out" "$WORK/deg.err" | sed 's/^/    | /'
check "USB cut refused: kakurictl send exits 0 (the isolate is done: the network is cut)" test "$rc" = 0
check "... its receipt line says done, degraded" grep -q "isolate [0-9a-f]*: done degraded mode=isolated" "$WORK/deg.out"
check "... and names the USB enforcer, the word and the interface not cut" \
	grep -q "degraded: usb degraded write-refused: 1-1:1.0 authorized: Operation not permitted" "$WORK/deg.out"
check "... and says so on stderr too" grep -q "^kakurictl: .*isolate done, but not all of it: usb degraded write-refused" "$WORK/deg.err"
check "the network isolation is in force: mode isolated" test "$(status_field mode)" = isolated
refute "... TCP endpoint -> internet is dropped (real packets)" reach "$EP" tcp "$NET4" 8080
refute "... over IPv6 too" reach "$EP" tcp "$NET6" 8080
check "... the composite's storage interface and usb1's default are cut all the same" \
	bash -c "[ \"\$(cat '$COMBO_DISK')\" = 0 ] && [ \"\$(cat '$DEF1')\" = 0 ]"
check "... the stick could not be cut (still 1)" is "$STICK" 1
# deg_json: the receipt of a second isolate (already isolated), --json
ISO2=$(sign alice isolate --reason "again")
send "$ISO2" >"$WORK/deg.json" 2>/dev/null
check "--json: the target's status word is degraded" jq -e '.status == "degraded"' "$WORK/deg.json"
check "... the second isolate is no new one: already isolated, the USB cut alone tried again (fails on the old code)" \
	jq -e '.receipts[0].detail | startswith("already isolated")' "$WORK/deg.json"
check "--json: the receipt is done, reason degraded, and its enforcers name usb (write-refused, the stick) and nftables applied" \
	jq -e '.receipts[0] | .result == "done" and .reason == "degraded" and
	  any(.enforcers[]; .name == "usb" and .result == "degraded" and .reason == "write-refused" and (.detail | test("1-1:1.0"))) and
	  any(.enforcers[]; .name == "nftables" and .result == "applied")' "$WORK/deg.json"
check "status: the usb enforcer degraded, with the age of its look" bash -c \
	"ctl() { \"$KAKURICTL\" -s '$SOCK' \"\$@\"; }; ctl status --json | jq -e 'any(.enforcers[]; .name == \"usb\" and .result == \"degraded\" and .reason == \"write-refused\" and (.age_ms | type) == \"number\")'"
check "status (text): a DEGRADED line names usb" bash -c "'$KAKURICTL' -s '$SOCK' status | grep -q '^DEGRADED: *usb degraded write-refused'"
check "the audit's isolate record is done: degraded, with the enforcers" audit_has \
	'.action == "isolate" and .result == "done: degraded" and any(.enforcers[]; .name == "usb" and .reason == "write-refused")'
chattr -i "$STICK"
check_within "the stick writable again: the verify timer cuts it" 10 is "$STICK" 0
check_within "... and status says the usb enforcer applied" 10 bash -c \
	"'$KAKURICTL' -s '$SOCK' status --json | jq -e 'any(.enforcers[]; .name == \"usb\" and .result == \"applied\")'"
summary
[ "$FAILED" -eq 0 ]
