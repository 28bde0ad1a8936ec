# Our feed is not lang/python of openwrt/packages: this shim lets feed/*/Makefile say
# `include ../pypi.mk` as they would there, and includes the packages feed's pypi.mk.
include $(TOPDIR)/feeds/packages/lang/python/pypi.mk
