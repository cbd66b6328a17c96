"""The tiny bootable test guest: its ISO builder (build_iso.py) and init script (init.sh)."""
