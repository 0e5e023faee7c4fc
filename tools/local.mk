# tools: the `tpmha` admin CLI. It links the whole module (libtpmha-core) and
# drives it through its PKCS#11 function list, plus module/admin.h for what
# PKCS#11 cannot say (TPM state, configuration, token deletion).
bin_PROGRAMS += tpmha
tpmha_SOURCES = \
	tools/cli.h \
	tools/import.c \
	tools/json.c \
	tools/key.c \
	tools/p11.c \
	tools/pin.c \
	tools/status.c \
	tools/token.c \
	tools/tpmha.c
tpmha_LDADD = libtpmha-core.la $(CRYPTO_LIBS)
