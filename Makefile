# kakuri - endpoint quarantine and first-response agent
#
# make            build kakurid and kakurictl
# make check      install missing build/test dependencies, run unit + integration tests
# make demo       isolation demo in throw-away network namespaces
# make bench      benchmarks (figures printed as ratios against their baselines)
# make install    PREFIX=/usr DESTDIR=... install binaries, man pages, units, policy
# make deb        Debian packages kakuri and kakuri-csirt into build/deb/

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
APPLICATIONSDIR ?= $(PREFIX)/share/applications
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
AUTOSTARTDIR ?= $(SYSCONFDIR)/xdg/autostart
DESTDIR ?=

PKGS := libnftnl libmnl libsystemd libssl libcrypto jansson libconfig libmosquitto
PKG_CONFIG ?= pkg-config

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-unused-parameter \
	-D_GNU_SOURCE -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
	-MMD -MP $(INCLUDES)
LDFLAGS += -pie -Wl,-z,relro,-z,now

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-7s %s\n' "$(1)" "$(2)";
endif

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# Sources are found per folder: common/ is compiled into both programs,
# agentd/ (and its subfolders) into kakurid, ctl/ into kakurictl.
INCLUDES := -Icommon -Iagentd $(patsubst %/,-I%,$(wildcard agentd/*/)) -Ictl
COMMON_SRC := $(wildcard common/*.c)
# evidence preservation: freeze, snapshot, collect, manifest (the
# evidence actions of the daemon, which need it running, are in DAEMON_SRC)
EVIDENCE_SRC := $(wildcard agentd/evidence/*.c agentd/evidence/*/*.c)
# kakurid-restore's main: in no other program
RESTORE_MAIN := agentd/restore.c
# the courier dials the collector with kakurictl's connection code
AGENTD_SRC := $(filter-out $(RESTORE_MAIN),$(wildcard agentd/*.c agentd/*/*.c \
	agentd/*/*/*.c)) ctl/agentconn.c $(COMMON_SRC)
CTL_SRC := $(wildcard ctl/*.c) $(COMMON_SRC)
# what the unit tests, the test programs and the benchmarks share
PROG_SRC := tests/progutil.c
UNIT_SRC := $(wildcard tests/unit/*.c) $(PROG_SRC)
# kakurid.c is the wiring and main(); everything else goes into the unit
# test binary
DAEMON_SRC := agentd/kakurid.c
# kakurictl's parts that need no agent: the command table, the target
# stream, the worker pool, the drill summary, the watch's notices
CTL_UNIT_SRC := ctl/cmdtab.c ctl/targets.c ctl/fanout.c ctl/output.c \
	ctl/drillsum.c ctl/notice.c ctl/guidance.c ctl/colquota.c ctl/verify.c
UNIT_LIB_SRC := $(filter-out $(DAEMON_SRC),$(AGENTD_SRC)) $(CTL_UNIT_SRC)
HELPER_SRC := tests/integration/netprobe.c $(PROG_SRC)
# the nftables module with the policy loader: apply bench, nftset test helper
NFT_SRC := $(wildcard agentd/nft/*.c) agentd/parse.c agentd/parse_keys.c agentd/cfgfile.c \
	$(COMMON_SRC)
BENCH_SRC := bench/apply_bench.c tests/nftprog.c $(NFT_SRC) $(PROG_SRC)
# kakurid-restore, the boot restore: the nftables module, the policy
# loader, the tables enforcer and the audit/outbox writers, from an
# archive so that only what the restore calls is linked; no libsystemd,
# no libssl, no libcrypto (see agentd/restore.c)
RESTORE_LIB_SRC := $(wildcard agentd/nft/*.c) agentd/parse.c agentd/parse_keys.c agentd/cfgfile.c agentd/blocklist.c agentd/blocklist_file.c \
	agentd/tables.c agentd/netdevs.c agentd/usb.c agentd/usb_cut.c agentd/usb_scan.c agentd/usb_state.c agentd/usb_enforcer.c agentd/usb_sysfs.c agentd/record.c agentd/outbox.c agentd/outbox_aside.c agentd/outbox_self.c agentd/subids.c agentd/hostfacts.c agentd/adopt.c $(filter-out common/sha256.c,$(COMMON_SRC))
RESTORE_PKGS := libnftnl libmnl libconfig jansson nettle

OBJDIR := build
FUZZ_SECONDS ?= 60
FUZZCC ?= clang
FUZZFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE $(INCLUDES) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := envelope policy trust frame fleet
FUZZ_envelope_SRC := tests/fuzz/fuzz_envelope.c common/dsse.c common/command.c \
	common/jsonutil.c common/keys.c common/util.c common/sha256.c
FUZZ_envelope_DEFS := -DKK_DSSE_LIFT_MIN=16
FUZZ_policy_SRC := tests/fuzz/fuzz_policy.c agentd/parse.c agentd/parse_keys.c common/addr.c \
	common/util.c common/sha256.c \
	agentd/trust.c agentd/cfgfile.c common/keys.c common/dsse.c \
	common/command.c common/jsonutil.c
FUZZ_trust_SRC := $(FUZZ_policy_SRC)
FUZZ_trust_DEFS := -DFUZZ_TRUST
FUZZ_frame_SRC := tests/fuzz/fuzz_frame.c common/frame.c common/util.c \
	common/sha256.c
FUZZ_fleet_SRC := tests/fuzz/fuzz_fleet.c common/fleetwire.c common/dsse.c common/jsonutil.c \
	common/keys.c common/util.c common/sha256.c
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
obj = $(patsubst %.c,$(OBJDIR)/%.o,$(1))

all: kakurid kakurictl kakurid-restore

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

kakurid: $(call obj,$(AGENTD_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(OBJDIR)/restore-lib.a: $(call obj,$(RESTORE_LIB_SRC))
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# common/sha256.c once more with Nettle's SHA-256, for kakurid-restore
# alone (it links no libcrypto)
$(OBJDIR)/common/sha256-nettle.o: common/sha256.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$< nettle)
	$(Q)$(CC) $(CFLAGS) -DKK_SHA256_NETTLE $(PKG_CFLAGS) \
		$(shell $(PKG_CONFIG) --cflags nettle 2>/dev/null) -c -o $@ $<

kakurid-restore: $(call obj,$(RESTORE_MAIN)) $(OBJDIR)/common/sha256-nettle.o \
		$(OBJDIR)/restore-lib.a
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ \
		$(shell $(PKG_CONFIG) --libs $(RESTORE_PKGS) 2>/dev/null)

kakurictl: $(call obj,$(CTL_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# a device's side of a driver probe, and a device plugged in at a sysfs
# write, in the usb suite (test_usb.c)
UNIT_WRAP = -Wl,--wrap=kd_usb_probe -Wl,--wrap=kd_usb_attr_set

$(OBJDIR)/unit-tests: $(call obj,$(UNIT_SRC) $(UNIT_LIB_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(UNIT_WRAP) -o $@ $^ $(PKG_LIBS) -lpthread $(shell $(PKG_CONFIG) --libs check)

$(OBJDIR)/netprobe: $(call obj,$(HELPER_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# the round trip through kakurictl's own connection code
SEND_BENCH_SRC := bench/send_bench.c ctl/agentconn.c $(COMMON_SRC) $(PROG_SRC)

$(OBJDIR)/send-bench: $(call obj,$(SEND_BENCH_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# the employee's report, the outbox and the collector (issue 10)
$(OBJDIR)/report-bench: $(call obj,bench/report_bench.c $(COMMON_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(OBJDIR)/collector-bench: $(call obj,bench/collector_bench.c ctl/agentconn.c \
    tests/fakereport.c $(COMMON_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# the fleet benchmark's simulated agents (through the broker and direct)
# and operator (issue 13): kakurid's own check of a signed command
# (agentd/signed.c with its trust loader)
$(OBJDIR)/fleetsim: $(call obj,bench/fleetsim.c bench/simagent.c \
    bench/fleetdirect.c agentd/signed.c agentd/trust.c agentd/cfgfile.c \
    $(COMMON_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# evidence tests and benchmarks (issue 4)
EVB_SRC := $(EVIDENCE_SRC) $(COMMON_SRC)
$(OBJDIR)/freeze-bench: $(call obj,bench/freeze_bench.c $(EVB_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(OBJDIR)/snapshot-bench: $(call obj,bench/snapshot_bench.c $(EVB_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(OBJDIR)/collect-bench: $(call obj,bench/collect_bench.c $(EVB_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# test programs: built with symbols and without optimisation, for gdb
$(OBJDIR)/coretarget: tests/integration/coretarget.c $(PROG_SRC) tests/progutil.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O0 -std=gnu11 -D_GNU_SOURCE -pthread -o $@ $< $(PROG_SRC)

$(OBJDIR)/forker: tests/integration/forker.c $(PROG_SRC) tests/progutil.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O0 -std=gnu11 -D_GNU_SOURCE -o $@ $< $(PROG_SRC)

# hostile input for the evidence tests: a FUSE server that stops
# answering, a status prober, a pid reuser, an LD_PRELOAD library; a
# disk whose sync fails (syncfail.so, the collector's); no rtnetlink
# (nortnl.so, the boot restore's: t-restore-netdev)
$(OBJDIR)/fusehang $(OBJDIR)/statusprobe $(OBJDIR)/pidreuse: $(OBJDIR)/%: tests/integration/%.c $(PROG_SRC) tests/progutil.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $< \
		$(PROG_SRC)

$(OBJDIR)/evilpreload.so $(OBJDIR)/syncfail.so $(OBJDIR)/nortnl.so: $(OBJDIR)/%.so: tests/integration/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -shared -fPIC -o $@ $< -ldl

# another process's commit inside kakurid's own batch (t-tamper-window)
$(OBJDIR)/commitwindow.so: tests/integration/commitwindow.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -shared -fPIC \
		$(shell $(PKG_CONFIG) --cflags libmnl libnftnl) -o $@ $< \
		$(shell $(PKG_CONFIG) --libs libmnl libnftnl) -ldl -pthread

# a directory out of reach: an NSS module that answers one uid late (t-names)
$(OBJDIR)/libnss_kkslow.so.2: tests/nss_slow.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
		-shared -fPIC -Wl,-soname,libnss_kkslow.so.2 -o $@ $<

# a process's writable memory searched for a key (t-remote, t-evidence-attacks)
$(OBJDIR)/memscan: tests/integration/memscan.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $<

# its log: a socket, as the resolver may write no file (t-names)
$(OBJDIR)/linesink: tests/integration/linesink.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $<

# attacks on the CSIRT port: squatting it, handshake floods
$(OBJDIR)/netstress: $(call obj,tests/integration/netstress.c $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# an agent that answers one byte at a time (t-send-drip)
$(OBJDIR)/dripagent: $(call obj,tests/integration/dripagent.c $(PROG_SRC) \
	$(COMMON_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# root malware with an agent's keys, flooding the collector
$(OBJDIR)/floodagent: $(call obj,tests/integration/floodagent.c \
	tests/fakereport.c ctl/agentconn.c $(COMMON_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# an agent's root answering through the broker with receipts of its own
$(OBJDIR)/fakereceipt: $(call obj,tests/integration/fakereceipt.c \
	$(COMMON_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# the local attacker of issue 8: holds or floods the control socket
$(OBJDIR)/hog: tests/integration/hog.c $(PROG_SRC) tests/progutil.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $< \
		$(PROG_SRC)

# a big audit log, chained as kakurid chains it, in a second
$(OBJDIR)/mklog: tests/integration/mklog.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $< -lcrypto

# the nftables module with 100k-entry interval sets (t-bigset, bench/run)
$(OBJDIR)/nftset: $(call obj,tests/integration/nftset.c tests/nftprog.c \
	$(NFT_SRC) $(PROG_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# one transaction swapping a plain set for an interval set (t-tamper-flags)
$(OBJDIR)/setswap: tests/integration/setswap.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)
	$(Q)$(CC) -g -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o $@ $< \
		-lnftnl -lmnl

# hand-built frames from an AF_PACKET socket, past the inet hooks (t-netdev)
$(OBJDIR)/rawsend: $(call obj,tests/integration/rawsend.c)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# a raw-IP link between two namespaces, a modem's stand-in (t-netdev-ip)
$(OBJDIR)/tunrelay: $(call obj,tests/integration/tunrelay.c)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

TESTPROGS := $(OBJDIR)/netprobe $(OBJDIR)/coretarget $(OBJDIR)/forker \
	$(OBJDIR)/fusehang $(OBJDIR)/statusprobe $(OBJDIR)/pidreuse \
	$(OBJDIR)/evilpreload.so $(OBJDIR)/syncfail.so $(OBJDIR)/nortnl.so \
	$(OBJDIR)/commitwindow.so \
	$(OBJDIR)/netstress $(OBJDIR)/hog \
	$(OBJDIR)/floodagent $(OBJDIR)/dripagent $(OBJDIR)/fakereceipt \
	$(OBJDIR)/mklog $(OBJDIR)/nftset $(OBJDIR)/notifyd $(OBJDIR)/setswap \
	$(OBJDIR)/libnss_kkslow.so.2 $(OBJDIR)/linesink $(OBJDIR)/memscan \
	$(OBJDIR)/rawsend \
	$(OBJDIR)/tunrelay

$(OBJDIR)/apply-bench: $(call obj,$(BENCH_SRC))
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(OBJDIR)/fuzz-%: $(wildcard tests/fuzz/*.c common/*.[ch] agentd/*.c agentd/*.h)
	@mkdir -p $(dir $@)
	$(call quiet,FUZZ,$@)
	$(Q)$(FUZZCC) $(FUZZFLAGS) $(FUZZ_$*_DEFS) $(PKG_CFLAGS) -o $@ \
		$(FUZZ_$*_SRC) $(PKG_LIBS)

# The unit tests again, under AddressSanitizer and UBSan (clang).
$(OBJDIR)/asan/unit-tests: $(UNIT_SRC) $(UNIT_LIB_SRC) $(wildcard tests/*.h tests/unit/*.h common/*.h agentd/*.h agentd/*/*.h agentd/*/*/*.h)
	@mkdir -p $(dir $@)
	$(call quiet,ASAN,$@)
	$(Q)$(FUZZCC) -g -O1 -std=gnu11 -D_GNU_SOURCE $(INCLUDES) -Itests/unit \
		$(SANFLAGS) $(PKG_CFLAGS) $(UNIT_WRAP) -o $@ $(filter %.c,$^) \
		$(PKG_LIBS) -lpthread $(shell $(PKG_CONFIG) --libs check)

unit-asan: deps
	$(Q)$(MAKE) --no-print-directory $(OBJDIR)/asan/unit-tests
	$(Q)cd tests/unit && ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		CK_FORK=yes CK_TIMEOUT_MULTIPLIER=3 ../../$(OBJDIR)/asan/unit-tests

# Each fuzzer for FUZZ_SECONDS, starting from the seeds in tests/fuzz/corpus.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(addprefix $(OBJDIR)/fuzz-,$(FUZZ_TARGETS))
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p $(OBJDIR)/corpus/$$t && \
		cp -n tests/fuzz/corpus/$$t/* $(OBJDIR)/corpus/$$t/ 2>/dev/null; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
		$(OBJDIR)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			-artifact_prefix=$(OBJDIR)/fuzz-$$t- \
			-print_final_stats=0 $(OBJDIR)/corpus/$$t \
			>$(OBJDIR)/fuzz-$$t.log 2>&1 || \
			{ tail -40 $(OBJDIR)/fuzz-$$t.log; exit 1; }; \
		grep -E '^Done [0-9]+ runs' $(OBJDIR)/fuzz-$$t.log | sed "s/^/  $$t: /"; \
	done

# Installs what the build and the tests need when it is missing (Debian).
deps:
	$(Q)tools/ensure-deps

unit: deps
	$(Q)$(MAKE) --no-print-directory $(OBJDIR)/unit-tests
	$(Q)cd tests/unit && CK_FORK=yes ../../$(OBJDIR)/unit-tests

integration: deps
	$(Q)$(MAKE) --no-print-directory all $(TESTPROGS)
	$(Q)tests/integration/run-all

check: deps
	$(Q)$(MAKE) --no-print-directory all $(OBJDIR)/unit-tests $(TESTPROGS)
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory unit-asan
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10
	$(Q)tools/verify-units
	$(Q)tools/check-wire
	$(Q)tests/integration/run-all

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory $(OBJDIR)/netprobe
	$(Q)./demo/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(TESTPROGS) $(OBJDIR)/apply-bench \
		$(OBJDIR)/send-bench $(OBJDIR)/freeze-bench $(OBJDIR)/snapshot-bench \
		$(OBJDIR)/collect-bench $(OBJDIR)/report-bench $(OBJDIR)/collector-bench \
		$(OBJDIR)/fleetsim
	$(Q)bench/run

# a freedesktop notification server that records (t-watch)
$(OBJDIR)/notifyd: $(call obj,tests/integration/notifyd.c)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/kakuri $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(APPLICATIONSDIR)
	install -m 0755 kakurid $(DESTDIR)$(SBINDIR)/kakurid
	install -m 0755 kakurid-restore $(DESTDIR)$(SBINDIR)/kakurid-restore
	install -m 0755 kakurictl $(DESTDIR)$(BINDIR)/kakurictl
	install -m 0644 agentd/kakurid.8 ctl/kakurictl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 policies/kakuri.conf.5 $(DESTDIR)$(MANDIR)/man5/
	test -e $(DESTDIR)$(SYSCONFDIR)/kakuri/kakuri.conf || \
		install -m 0600 policies/kakuri.conf $(DESTDIR)$(SYSCONFDIR)/kakuri/kakuri.conf
	install -m 0644 systemd/kakurid.service systemd/kakuri-restore.service \
		systemd/kakuri-collector.service $(DESTDIR)$(UNITDIR)/
	# the scheduled drill: installed, never enabled (the admin's choice)
	for u in kakuri-drill.service kakuri-drill.timer; do \
		sed 's|@BINDIR@|$(BINDIR)|g' systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 desktop/kakuri-report.desktop $(DESTDIR)$(APPLICATIONSDIR)/
	install -d $(DESTDIR)$(USERUNITDIR) $(DESTDIR)$(AUTOSTARTDIR)
	install -m 0644 systemd/kakuri-watch.service $(DESTDIR)$(USERUNITDIR)/
	install -m 0644 desktop/kakuri-watch.desktop $(DESTDIR)$(AUTOSTARTDIR)/
	install -m 0644 systemd/kakuri.sysusers $(DESTDIR)$(SYSUSERSDIR)/kakuri.conf
	install -m 0644 systemd/kakuri.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kakuri.conf

# The Debian packages (debian/), built by dpkg-buildpackage in a copy of
# the tree under build/deb/, where the .deb files end up.
deb: deps
	$(Q)tools/ensure-deb-deps
	$(Q)tools/build-deb

clean:
	rm -rf $(OBJDIR) kakurid kakurictl kakurid-restore

.PHONY: all deps unit unit-asan fuzz integration check demo bench install deb clean

-include $(shell find $(OBJDIR) -name '*.d' 2>/dev/null)
