libtpmha_core_la_SOURCES += \
	migration/approval.c migration/approval.h \
	migration/bundle.c migration/bundle.h \
	migration/files.c migration/files.h \
	migration/format.c migration/format.h
