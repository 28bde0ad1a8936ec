# bacrouter: one Makefile, two uses.
#  - Inside the OpenWrt build system (TOPDIR is set) this is the package's feed
#    Makefile: place this directory in a feed (or symlink it to package/bacrouter).
#  - Anywhere else it offers the developer targets: run, test, bench, check, lint, docs.

ifneq ($(TOPDIR),)
# ----------------------------------------------------------------- OpenWrt package

include $(TOPDIR)/rules.mk

PKG_NAME:=bacrouter
PKG_VERSION:=$(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' $(CURDIR)/bacrouter/__init__.py)
PKG_RELEASE:=1
PKG_LICENSE:=GPL-2.0-or-later
PKG_LICENSE_FILES:=LICENSE
PKG_MAINTAINER:=bacrouter developers
# the wheel is built with setuptools from the host Python (OpenWrt >= 25.x has it as a package)
PKG_BUILD_DEPENDS:=python-setuptools/host

include $(INCLUDE_DIR)/package.mk
PYTHON3_PACKAGE_MK:=$(firstword $(wildcard $(TOPDIR)/feeds/*/lang/python/python3-package.mk))
include $(PYTHON3_PACKAGE_MK)

define Package/bacrouter
  SECTION:=net
  CATEGORY:=Network
  TITLE:=BACnet router and Modbus / M-Bus / Lua gateway
  # every module the code imports (tests/openwrt/test_feed.py checks it): asyncio, logging, ctypes (the
  # MS/TP timer slack; bacpypes3 needs it too), pyserial; python3-bacpypes3 comes from this feed
  # (feed/python-bacpypes3). python3-lupa (feed/python-lupa) is optional: without it Free Client buses
  # and o... conversions do not run and say so, everything else does. The web panel needs python3-bottle
  # (feed/python-bottle), urllib and openssl (HTTPS with uhttpd's certificate)
  DEPENDS:=+python3-light +python3-asyncio +python3-logging +python3-ctypes +python3-pyserial +python3-bacpypes3 \
	+python3-bottle +python3-urllib +python3-openssl
endef

define Package/bacrouter/description
  A BACnet multi-port router (BACnet/IP normal, foreign device and BBMD ports;
  MS/TP; BACnet Ethernet; a virtual network for gateway devices) with Modbus,
  M-Bus and Lua-scripted gateways, configured with UCI.
  Free Client buses and Lua conversions need python3-lupa.
endef

# the files users edit; /etc/bacrouter/ (points, bus definitions, conversions the user adds) is kept
# over a sysupgrade too (OpenWrt lists what the package does not ship in /lib/upgrade/keep.d)
define Package/bacrouter/conffiles
/etc/config/bacrouter
/etc/bacrouter/resource.conf
/etc/bacrouter/
endef

define Build/Prepare
	mkdir -p $(PKG_BUILD_DIR)
	$(CP) ./pyproject.toml ./README.md ./bacrouter $(PKG_BUILD_DIR)/
endef

define Py3Package/bacrouter/install
	$(INSTALL_DIR) $(1)/usr/bin
	$(INSTALL_BIN) $(PKG_INSTALL_DIR)/usr/bin/bacrouter $(1)/usr/bin/bacrouter
	$(INSTALL_DIR) $(1)/etc/init.d $(1)/etc/config $(1)/etc/bacrouter $(1)/etc/uci-defaults
	$(INSTALL_BIN) ./files/bacrouter.init $(1)/etc/init.d/bacrouter
	$(INSTALL_CONF) ./files/bacrouter.config $(1)/etc/config/bacrouter
	$(INSTALL_CONF) ./files/resource.conf $(1)/etc/bacrouter/resource.conf
	$(INSTALL_DATA) ./uci-defaults/90_bacrouter $(1)/etc/uci-defaults/90_bacrouter
endef

$(eval $(call Py3Package,bacrouter))
$(eval $(call BuildPackage,bacrouter))
$(eval $(call BuildPackage,bacrouter-src))

else
# ----------------------------------------------------------------- developer targets

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= .run

.PHONY: run test test-unit bench check lint docs packages clean

# a private virtual environment with the pinned dependencies, rebuilt when pyproject changes
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# the router on a default configuration for this machine, in $(RUN_DIR)
run: $(VENV)/.installed
	$(PY) -m bacrouter init --config-dir $(RUN_DIR)
	exec $(PY) -m bacrouter run --config-dir $(RUN_DIR)

test: $(VENV)/.installed
	$(PY) -m pytest

test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

# bench/run_all.py checks first that what the benchmarks start (socat) is installed
bench: $(VENV)/.installed
	$(PY) bench/run_all.py

check: $(VENV)/.installed
	$(PY) -m bacrouter check --config-dir $(RUN_DIR)

lint: $(VENV)/.installed
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check bacrouter tests bench

# docs/configuration.md is generated from the schema (tests/unit/test_docs.py fails when it is stale)
docs: $(VENV)/.installed
	$(PY) -m bacrouter help config > docs/configuration.md

# bacrouter, python3-bacpypes3 and python3-bottle as .ipk (opkg) and .apk (apk v3, OpenWrt 25.x) in
# $(PKG_OUT), without the OpenWrt SDK (packaging/build.py); RELEASE=N overrides PKG_RELEASE
PKG_OUT ?= dist/openwrt
packages: $(VENV)/.installed
	$(PY) packaging/build.py --out $(PKG_OUT) $(if $(RELEASE),--release $(RELEASE))

clean:
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .hypothesis *.egg-info

endif
