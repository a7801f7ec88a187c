# One image for every WRD service (web, worker, beat, rdp); docker-compose.yml picks the command.
FROM debian:12-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WRD_VAR_DIR=/var/lib/wrd \
    WRD_RUNTIME_ROOT=/dev/shm/wrd

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev build-essential \
      xvfb xauth x11-utils x11-xserver-utils xdotool openbox xterm fonts-dejavu-core \
      libxkbcommon0 libwayland-client0 libyuv0 foot dbus-daemon dbus-bin ca-certificates tini \
      fuse3 libfuse3-3 libfuse3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
ENV PATH=/opt/venv/bin:$PATH
COPY . .
# The C extensions (the Makefile's native-built), built for the image (-B: not a copy from the
# build context).
RUN make -B native
# Bytecode made once here: session hosts run as the desktops' accounts, which cannot write it
# into /app, and would compile every module they import at each start (~60 ms CPU, 0.65 MiB).
RUN python -m compileall -q compositor rdpfront webconsole

# Session hosts detach from the worker; tini reaps them when they end.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "webconsole.core.daphne_server", "-b", "0.0.0.0", "-p", "8000", "webconsole.asgi:application"]
