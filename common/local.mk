libtpmha_core_la_SOURCES += \
	common/buf.c common/buf.h \
	common/ckr.c common/ckr.h \
	common/lock.c common/lock.h \
	common/log.c common/log.h \
	common/ossl.c common/ossl.h \
	common/pk.c common/pk.h \
	common/rsa_pad.c common/rsa_pad.h \
	common/secret.c common/secret.h
