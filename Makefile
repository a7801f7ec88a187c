# WRD: `make run` sets up what is missing and starts the product; `make test` sets up and
# runs the whole test suite. Every step is idempotent and non-interactive.

SHELL := /bin/bash
.DEFAULT_GOAL := run
# Debian's interpreter, not whatever python3 comes first on PATH: desktops run as their own
# accounts and must be able to run it (a pyenv build under /root, mode 0700, they cannot).
PYTHON ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
VAR := var
# aardwolf and its pins, apart from the product's venv (requirements-rdp-clients.txt).
CLIENTS_VENV := .venv-rdp-clients

# Runtime: the virtual screen, X tools, the default desktop (openbox + xterm), Redis,
# Wayland clients' libraries, the desktops' sound server (PulseAudio; parec records its output),
# FUSE for redirected drives (pyfuse3 builds against libfuse3), the "desktop" profile (XFCE with
# its file manager, editor and terminal, and Firefox).
APT_RUNTIME := python3 python3-venv dbus-daemon dbus-bin xvfb xauth x11-utils x11-xserver-utils xdotool openbox xterm \
	fonts-dejavu-core redis-server libxkbcommon0 libwayland-client0 libyuv0 ca-certificates \
	pulseaudio pulseaudio-utils fuse3 libfuse3-3 libfuse3-dev pkg-config build-essential python3-dev \
	xfce4-session xfwm4 xfce4-panel xfdesktop4 xfce4-settings thunar mousepad xfce4-terminal firefox-esr \
	adwaita-icon-theme
# Tests and benchmarks: real peers (FreeRDP, rdesktop, Chromium, Wayland clients, x11vnc + noVNC,
# ffprobe for recordings).
APT_TEST := freerdp2-x11 rdesktop chromium xclip x11-apps wl-clipboard weston foot \
	gtk-3-examples gtk-4-examples qt6-wayland qml-qt6 qml6-module-qtquick \
	qml6-module-qtquick-window qml6-module-qtqml-workerscript x11vnc novnc websockify \
	wev python3-gi gir1.2-gtk-3.0 ffmpeg

.PHONY: run test setup setup-test apt apt-test venv clients-venv native native-built bytecode db lint fuzz clean

run: setup
	$(PY) manage.py serve

# The suite mostly waits on real processes (X servers, clients, browsers): two workers, a test
# file each at a time, then the tests marked serial alone (pyproject.toml says why).
test: setup setup-test
	$(PY) -m pytest -n 2 --dist loadfile -m "not serial"
	$(PY) -m pytest -m serial

setup: apt venv native bytecode db

setup-test: apt-test clients-venv

# apt-get only when something is missing (so a prepared machine needs no network).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

apt:
	$(call apt_install,$(APT_RUNTIME))

apt-test:
	$(call apt_install,$(APT_TEST))

# A venv made from another interpreter (see PYTHON) is made again.
venv:
	@if [ -f $(VENV)/pyvenv.cfg ] && ! grep -qx "home = $$(dirname $$(readlink -f $(PYTHON)))" $(VENV)/pyvenv.cfg; then \
		echo "Rebuilding $(VENV) on $(PYTHON)"; rm -rf $(VENV); fi
	@$(MAKE) --no-print-directory $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q python3-venv python3-dev && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check --no-input -r requirements.txt
	@touch $@

# C extensions, built in place for $(PYTHON) (the venv's interpreter) when their source changes:
# rdpfront/_zgfx.c, the RDP 8.0 bulk compressor's core (docs/rdp-zgfx.md),
# compositor/encoders/_planar_rle.c, the planar codec's per-pixel stages,
# compositor/encoders/_interleaved_rle.c, the interleaved RLE encoder's orders and pixels,
# compositor/encoders/_scroll_rows.c, the scroll search's row hashes, vote and row compares, and
# compositor/encoders/_bitmap_tiles.c, the bitmap stream's tile compares and copies (all four
# in docs/encoders.md). The interpreter's extension suffix and headers are asked for once it is
# installed (a sub-make); the library is compiled to a temporary file and renamed, so a running
# server keeps the one it loaded.
NATIVE_CFLAGS := -O2 -g -fPIC -shared -std=c11 -Wall -Wextra -fwrapv -fstack-protector-strong -D_FORTIFY_SOURCE=2

native:
	@$(MAKE) --no-print-directory native-built \
		EXT_SUFFIX="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')" \
		PY_INCLUDE="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"

ifdef EXT_SUFFIX
native-built: rdpfront/_zgfx$(EXT_SUFFIX) compositor/encoders/_planar_rle$(EXT_SUFFIX) \
		compositor/encoders/_interleaved_rle$(EXT_SUFFIX) compositor/encoders/_scroll_rows$(EXT_SUFFIX) \
		compositor/encoders/_bitmap_tiles$(EXT_SUFFIX)
	@:

# The interleaved encoder's mask loops are written for the vectoriser, which -O2 alone leaves
# off for loops of a length not known when compiling (with it: twice as fast on text, 5-10
# times on flat areas and noise; docs/encoders.md).
compositor/encoders/_interleaved_rle$(EXT_SUFFIX): NATIVE_CFLAGS += -ftree-vectorize

%$(EXT_SUFFIX): %.c
	$(CC) $(NATIVE_CFLAGS) -I$(PY_INCLUDE) -o $@.tmp $< && mv -f $@.tmp $@
endif

# Bytecode of the checkout, made (or brought up to date) here: session hosts run as the
# desktops' accounts, which cannot write it, and would compile every module they import at
# each start (~60 ms CPU, 0.65 MiB per idle host, docs/performance.md).
bytecode: venv
	@$(PY) -m compileall -q compositor rdpfront webconsole

clients-venv: $(CLIENTS_VENV)/.installed

$(CLIENTS_VENV)/.installed: requirements-rdp-clients.txt
	@[ -x $(CLIENTS_VENV)/bin/python ] || $(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-input -r requirements-rdp-clients.txt
	@touch $@

db: venv
	@mkdir -p $(VAR)
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py bootstrap_admin

lint: venv
	$(VENV)/bin/ruff check .

# The long fuzz pass (the suite runs 10,000 inputs per family): inputs per family and crashes
# found, each kept under tests/data/fuzz/. FUZZ_INPUTS=N to change the length.
FUZZ_INPUTS ?= 200000
fuzz: setup setup-test
	$(PY) -m tests.fuzz.run --inputs $(FUZZ_INPUTS)
	WRD_FUZZ_INPUTS=$(FUZZ_INPUTS) $(PY) -m pytest -q -s tests/compositor/wayland/test_wire_fuzz.py

clean:
	rm -rf $(VAR)/log $(VAR)/staticfiles .pytest_cache
