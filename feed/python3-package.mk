# See pypi.mk: `include ../python3-package.mk` includes the packages feed's python3-package.mk (it
# finds its helper scripts from its own path, so it works the same included from here).
include $(TOPDIR)/feeds/packages/lang/python/python3-package.mk
