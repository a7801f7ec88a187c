"""WRD's Wayland compositor: a pywayland server that shows each toplevel as an X window on Xvfb."""
