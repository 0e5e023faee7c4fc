libtpmha_core_la_SOURCES += conf/conf.c conf/conf.h
