libtpmha_core_la_SOURCES += tpm/backend.c tpm/backend.h
libtpmha_core_la_SOURCES += tpm/rsa_pad.c tpm/rsa_pad.h
