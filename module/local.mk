libtpmha_core_la_SOURCES += \
	module/admin.c module/admin.h \
	module/crypto.c \
	module/functions.h \
	module/internal.h \
	module/migrate.c \
	module/object.c \
	module/p11.c \
	module/session.c \
	module/slot.c

# The module: only C_GetFunctionList leaves the library.
p11kitmodule_LTLIBRARIES = tpmha-pkcs11.la
tpmha_pkcs11_la_SOURCES =
tpmha_pkcs11_la_LIBADD = libtpmha-core.la
tpmha_pkcs11_la_LDFLAGS = -module -avoid-version -shared -no-undefined $(MODULE_LDFLAGS) \
	-export-symbols-regex '^C_Get(FunctionList|InterfaceList|Interface)$$'

tpmhaincludedir = $(includedir)/tpmha
tpmhainclude_HEADERS = include/tpmha/tpmha.h
