libtpmha_core_la_SOURCES += \
	tokens/attr.c tokens/attr.h \
	tokens/object.c tokens/object.h \
	tokens/pubkey.c tokens/pubkey.h \
	tokens/soft.c tokens/soft.h \
	tokens/store.c tokens/store.h \
	tokens/create.c tokens/create.h \
	tokens/mech.c tokens/mech.h \
	tokens/migrate.c tokens/migrate.h \
	tokens/login.c \
	tokens/registry.c \
	tokens/token.c tokens/token.h tokens/token_int.h
