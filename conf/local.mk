libtpmha_core_la_SOURCES += conf/conf.c conf/conf.h

# A commented sample configuration (never over an existing one), and p11-kit's
# module file.
EXTRA_DIST += conf/tpmha.conf
install-data-local: install-tpmha-conf
uninstall-local: uninstall-tpmha-conf
install-tpmha-conf:
	$(MKDIR_P) $(DESTDIR)$(sysconfdir)/tpmha
	test -f $(DESTDIR)$(sysconfdir)/tpmha/tpmha.conf || \
		$(INSTALL_DATA) $(srcdir)/conf/tpmha.conf $(DESTDIR)$(sysconfdir)/tpmha/tpmha.conf
uninstall-tpmha-conf:
	if cmp -s $(srcdir)/conf/tpmha.conf $(DESTDIR)$(sysconfdir)/tpmha/tpmha.conf; then \
		rm -f $(DESTDIR)$(sysconfdir)/tpmha/tpmha.conf; fi
.PHONY: install-tpmha-conf uninstall-tpmha-conf

p11kitconfig_DATA = conf/tpmha.module
CLEANFILES += conf/tpmha.module
EXTRA_DIST += conf/tpmha.module.in
conf/tpmha.module: $(srcdir)/conf/tpmha.module.in Makefile
	$(AM_V_GEN)$(MKDIR_P) conf && \
	sed -e 's|@p11kitmoduledir[@]|$(p11kitmoduledir)|g' $(srcdir)/conf/tpmha.module.in > $@
