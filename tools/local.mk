# tools: the `tpmha` admin CLI. It links the whole module (libtpmha-core) and
# drives it through its PKCS#11 function list and its vendor function list, plus
# module/admin.h for what PKCS#11 cannot say (TPM state, configuration, token
# deletion, a token's domain and replica records).
bin_PROGRAMS += tpmha
tpmha_SOURCES = \
	tools/approval.c \
	tools/cli.h \
	tools/domain.c \
	tools/fileio.c \
	tools/import.c \
	tools/json.c \
	tools/key.c \
	tools/ma.c \
	tools/p11.c \
	tools/pin.c \
	tools/receive.c \
	tools/replicate.c \
	tools/status.c \
	tools/token.c \
	tools/tpmha.c \
	tools/unit.c
# $(DL_LIBS): the migration authority's own PKCS#11 module is loaded with dlopen (ma.c).
tpmha_LDADD = libtpmha-core.la $(CRYPTO_LIBS) $(DL_LIBS)
