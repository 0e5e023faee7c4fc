libtpmha_core_la_SOURCES += tpm/backend.c tpm/backend.h
